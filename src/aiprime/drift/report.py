"""The drift report: evidently's data drift preset on the main embedding directions and the routing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aiprime.drift.detect import DriftResult

N_COMPONENTS = 8  # principal directions of the reference embeddings shown in the report


def _frame(embeddings: np.ndarray, routes: list[str], basis: np.ndarray, mean: np.ndarray) -> pd.DataFrame:
    projected = (embeddings - mean) @ basis.T  # (N, K) coordinates on the reference's main directions
    frame = pd.DataFrame(projected, columns=[f"pc{i + 1}" for i in range(basis.shape[0])])
    frame["route"] = routes
    return frame


def write_report(
    result: DriftResult,
    reference: np.ndarray,
    current: np.ndarray,
    reference_routes: list[str],
    current_routes: list[str],
    path: Path,
) -> Path:
    """Write an HTML drift report to `path`: evidently's per-column drift plus our two tests' verdict."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    mean = reference.mean(0)  # (d,)
    basis = np.linalg.svd(reference - mean, full_matrices=False)[2][:N_COMPONENTS]  # (K, d)
    snapshot = Report([DataDriftPreset()]).run(
        current_data=_frame(current, current_routes, basis, mean),
        reference_data=_frame(reference, reference_routes, basis, mean),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
    verdict = (
        f"<h2>AI Prime drift verdict: {'DRIFT' if result.drifted else 'no drift'}</h2><p>MMD&sup2; "
        f"{result.mmd2:.5f} (p={result.mmd_p_value:.4f}); routing chi&sup2; {result.chi2:.1f} "
        f"(p={result.chi2_p_value:.2e}); alpha {result.alpha}</p>"
    )
    html = path.read_text()
    path.write_text(html.replace("<body>", "<body>" + verdict, 1))
    return path
