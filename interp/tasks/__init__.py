"""Evaluation prompt sets for the probe tasks, held out of the training corpus (see ``interp.data.corpus.splits``)."""
