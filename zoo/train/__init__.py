"""Training: the loop behind `zoo train`, its tasks, recipes, checkpoints and run directory."""
