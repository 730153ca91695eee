"""Training: mix-and-separate batches from the shards, the four losses, the loop
(docs/training.md)."""
