"""AI Prime: an MLOps platform for a mixture of experts with retrieval."""
