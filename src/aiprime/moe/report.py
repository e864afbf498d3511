"""Human-readable reports of a training run: Markdown and a self-contained HTML page (the KFP UI shows both)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from pathlib import Path


def headline(metrics: dict[str, float]) -> list[tuple[str, float, float]]:
    """(model, accuracy, macro-F1) rows for a summary table: gate, experts, system, top-2, dense."""
    experts = sorted(k.split(".")[1] for k in metrics if k.startswith("expert.") and k.endswith(".accuracy"))
    names = ["gate", *(f"expert.{e}" for e in experts), "system", "system_top2", "dense"]
    return [
        (n, metrics[f"{n}.accuracy"], metrics[f"{n}.macro_f1"]) for n in names if f"{n}.accuracy" in metrics
    ]


def fmt(value: float) -> str:
    """A metric with 4 decimals, or n/a."""
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def routing_rows(metrics: Mapping[str, float]) -> list[tuple[str, float, float]]:
    """(expert, share of inputs, dropped fraction) for each expert that received a share."""
    names = sorted(
        k.removeprefix("routing.utilisation.") for k in metrics if k.startswith("routing.utilisation.")
    )
    return [
        (n, metrics[f"routing.utilisation.{n}"], metrics.get(f"expert.{n}.dropped_frac", math.nan))
        for n in names
    ]


def markdown(metrics: Mapping[str, float], title: str = "Mixture of experts: test split") -> str:
    """The scores of every model and the routing figures as Markdown tables."""
    lines = [f"# {title}", "", "| model | accuracy | macro-F1 |", "|---|---:|---:|"]
    lines += [f"| {name} | {fmt(acc)} | {fmt(f1)} |" for name, acc, f1 in headline(dict(metrics))]
    lines += ["", "| expert | share of inputs | dropped at capacity |", "|---|---:|---:|"]
    lines += [f"| {name} | {fmt(share)} | {fmt(dropped)} |" for name, share, dropped in routing_rows(metrics)]
    cv, dropped = metrics.get("routing.utilisation_cv", math.nan), metrics.get("dropped_frac", math.nan)
    lines += ["", f"Utilisation CV {fmt(cv)}; dropped token assignments {fmt(dropped)}."]
    return "\n".join(lines) + "\n"


def html_page(
    metrics: Mapping[str, float], images: Mapping[str, Path], title: str = "Mixture of experts"
) -> str:
    """A single HTML page: the tables of `markdown` and the PNGs inlined as data URIs."""

    def table(header: tuple[str, ...], rows: list[tuple]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(c if isinstance(c, str) else fmt(c))}</td>" for c in row)
            + "</tr>"
            for row in rows
        )
        return f"<table border='1' cellpadding='4'><tr>{head}</tr>{body}</table>"

    figures = "".join(
        f"<h2>{html.escape(name)}</h2><img alt='{html.escape(name)}' src='data:image/png;base64,"
        f"{base64.b64encode(Path(path).read_bytes()).decode()}'/>"
        for name, path in images.items()
    )
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        + table(("model", "accuracy", "macro-F1"), headline(dict(metrics)))
        + "<p></p>"
        + table(("expert", "share of inputs", "dropped at capacity"), routing_rows(metrics))
        + f"<p>Utilisation CV {fmt(metrics.get('routing.utilisation_cv', math.nan))}</p>"
        + figures
        + "</body></html>"
    )
