"""Subprocess worker for the long-line memory test: tokenize a text file into shards, print the growth of peak
RSS (MB) over the baseline after imports and tokenizer loading."""

from __future__ import annotations

import resource
import sys


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    from interp.data.prepare import DataConfig, prepare_data
    from interp.data.tokenizer import load_tokenizer

    source, tokenizer, out = sys.argv[1:4]
    load_tokenizer(tokenizer)("warm up the tokenizer once")
    base = peak_mb()
    prepare_data(DataConfig(out_dir=out, source=source, tokenizer=tokenizer, n_tokens=10**9, val_tokens=1000))
    print(peak_mb() - base)
