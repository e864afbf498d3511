"""Feast features: live per-expert serving statistics (for load-aware routing) and per-document metadata."""
