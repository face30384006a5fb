"""Training recipes: one round of training, the recursive loop of Algorithm 1, DDP helpers."""
