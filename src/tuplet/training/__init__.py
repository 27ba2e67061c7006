"""Training: examples from a dataset, the training loop, its loss log and its energy."""
