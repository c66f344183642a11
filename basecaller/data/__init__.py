"""Training data: labelled reads from each source of truth, and the chunk dataset."""
