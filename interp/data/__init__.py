"""Data: the procedural story corpus, tokenizers, user text sources, token shards, and ``interp corpus``."""
