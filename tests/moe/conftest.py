"""Fixtures of the mixture-of-experts tests: the tiny splits and models of `_helpers.tiny_moe`."""

from _helpers.tiny_moe import one_torch_thread, tiny_models, tiny_run, tiny_splits

__all__ = ["one_torch_thread", "tiny_models", "tiny_run", "tiny_splits"]
