"""One object per server that explains its classifier: picks the method and keeps hooks off the served copy."""

from __future__ import annotations

import threading

from aiprime.errors import InvalidInput
from aiprime.explain.attribution import DEFAULT_TOLERANCE, Explanation
from aiprime.explain.sampling import kernel_shap, shapley_sampling
from aiprime.serving.text import TextClassifier

METHODS = ("ig", "shap", "sampling", "auto")  # auto: integrated gradients, then SHAP when they do not add up


class TextExplainer:
    """Explains predictions of a served `TextClassifier`, one explanation at a time.

    Integrated gradients hook the word-embedding layer, so they run on a private copy of the classifier
    (made on first use) and predictions served meanwhile are untouched; SHAP and Shapley value sampling
    only evaluate the model.
    """

    def __init__(self, classifier: TextClassifier, method: str = "ig", tolerance: float = DEFAULT_TOLERANCE):
        """Create the explainer.

        Args:
            classifier: the served classifier.
            method: the default of `METHODS`; a request may ask for another.
            tolerance: |delta| accepted as complete (probability units).
        """
        self.classifier = classifier
        self.method = check_method(method)
        self.tolerance = tolerance
        self._lock = threading.Lock()
        self._private: TextClassifier | None = None

    def explain(self, text: str, target: int, method: str | None = None) -> Explanation:
        """Attribute the probability of output `target` for `text` to its word pieces."""
        method = check_method(method or self.method)
        with self._lock:
            if method == "shap":
                return kernel_shap(self.classifier, text, target, tolerance=self.tolerance)
            if method == "sampling":
                return shapley_sampling(self.classifier, text, target, tolerance=self.tolerance)
            from aiprime.explain.gradients import integrated_gradients  # captum: 2 s to import, on first use

            answer = integrated_gradients(self._hookable(), text, target, tolerance=self.tolerance)
            if method == "auto" and not answer.complete:
                return kernel_shap(self.classifier, text, target, tolerance=self.tolerance)
            return answer

    def _hookable(self) -> TextClassifier:
        if self._private is None:
            self._private = self.classifier.copy()
        return self._private


def check_method(method: str) -> str:
    """`method` if it is one of `METHODS`.

    Raises:
        InvalidInput: naming the methods.
    """
    if method not in METHODS:
        raise InvalidInput(f"Unknown explanation method {method!r}; use one of {list(METHODS)}.")
    return method
