"""Federated training with Flower: simulated organisations, secure aggregation, differential privacy."""
