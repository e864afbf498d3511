"""Explanations of the served models: which words pushed a request to an expert, or to a class.

    from aiprime.explain import TextExplainer
    TextExplainer(classifier, method="ig").explain("a dog barks", target=0).top_words()

Modules: `attribution` (the answer and its completeness check), `gradients` (Captum's
LayerIntegratedGradients through MiniLM's word embeddings), `sampling` (Kernel SHAP over word pieces, no
gradients), `explainer` (method choice and thread safety for a server).
"""

from aiprime.explain.attribution import DEFAULT_TOLERANCE, Explanation, WordAttribution
from aiprime.explain.explainer import METHODS, TextExplainer

__all__ = ["DEFAULT_TOLERANCE", "METHODS", "Explanation", "TextExplainer", "WordAttribution"]
