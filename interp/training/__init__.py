"""Training: the config, the trainer (one process or DDP), checkpoints, copy drills, validation loss."""
