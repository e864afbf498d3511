"""The quality gate of an edge bundle: its answers against the fp32 champion's on the val split.

The fp32 path is what the KServe servers run: all-MiniLM-L6-v2 through sentence-transformers (the cached
val embeddings) into the torch gate and experts, top-1 (`MoESystem.predict`). The edge path is the bundle
itself: the int8 encoder and the quantised heads through `aiprime.edge.runtime`. A bundle is published only
if its macro-F1 over the val lexnames is at most MAX_F1_DROP below the champion's and it names the same
class as the champion for at least MIN_AGREEMENT of the rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from aiprime.errors import QualityGateFailed
from aiprime.moe.evaluation import macro_f1

MAX_F1_DROP = 0.01  # one point of macro-F1
MIN_AGREEMENT = 0.99  # share of rows where the bundle's top-1 class is the champion's


@dataclass(frozen=True)
class Quality:
    """What the gate measured on the val split."""

    rows: int
    macro_f1_fp32: float  # the champion (sentence-transformers + torch heads)
    macro_f1_edge: float  # the bundle (int8 encoder + quantised heads)
    agreement: float  # share of rows with the same top-1 class

    @classmethod
    def of(cls, truth: np.ndarray, fp32: np.ndarray, edge: np.ndarray) -> Quality:
        """Compare the two paths' predicted lexnames with the true ones."""
        truth, fp32, edge = (np.asarray(a, dtype=str) for a in (truth, fp32, edge))
        return cls(len(truth), macro_f1(truth, fp32), macro_f1(truth, edge), float((fp32 == edge).mean()))

    @property
    def failures(self) -> list[str]:
        """Why the bundle may not be published; empty when it passes."""
        drop = self.macro_f1_fp32 - self.macro_f1_edge
        reasons = []
        if drop > MAX_F1_DROP:
            reasons.append(
                f"macro-F1 {self.macro_f1_edge:.4f} is {100 * drop:.2f} points below the fp32 champion's "
                f"{self.macro_f1_fp32:.4f} (at most {100 * MAX_F1_DROP:.0f} allowed)"
            )
        if self.agreement < MIN_AGREEMENT:
            reasons.append(
                f"top-1 agreement with the fp32 champion is {100 * self.agreement:.2f}% "
                f"(at least {100 * MIN_AGREEMENT:.0f}% needed)"
            )
        return reasons

    def check(self) -> None:
        """Raise QualityGateFailed naming every failed bar."""
        if self.failures:
            raise QualityGateFailed(
                f"Edge bundle refused on {self.rows} val rows: {'; '.join(self.failures)}. Nothing was "
                "published. Try another --quantization (dynamic, none) or retrain the champions."
            )

    def as_dict(self) -> dict[str, float]:
        """The figures, for the manifest."""
        return asdict(self)
