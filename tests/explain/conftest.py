"""Explainers of a model whose answer depends on one known word."""

from __future__ import annotations

import pytest
from _helpers.keyword_model import keyword_classifier

from aiprime.explain import TextExplainer


@pytest.fixture(scope="module")
def keyword_model() -> TextExplainer:
    """An explainer of the real encoder under a head whose answer depends on one known word."""
    return TextExplainer(keyword_classifier())
