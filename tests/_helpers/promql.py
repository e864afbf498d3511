"""What a PromQL expression names: the metric and label names the rules and dashboard tests compare with what
the code exports."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

PROMQL_WORDS = {
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "scalar",
    "time",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "label_values",
    "humanizeDuration",
    "humanizePercentage",
}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def parse(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) that a PromQL expression uses."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values and templates
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    labels = set()
    for inside in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", inside))
    expr = re.sub(r"\{[^}]*\}", "", expr)
    for inside in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr):
        labels |= {name.strip() for name in inside.split(",") if name.strip()}
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", "", expr)  # numbers (3600, 1e-3)
    names = set(re.findall(r"(?<![\w.$])[A-Za-z_:][\w:]*", expr)) - PROMQL_WORDS
    return names, labels


def declared(metrics: object) -> tuple[set[str], set[str]]:
    """(series names, label names) of the prometheus_client metrics held as attributes of `metrics` (a
    `GatewayMetrics`, a module...), as Prometheus names their series."""
    names, labels = set(), {"le"}
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            names |= {metric._name + suffix for suffix in SUFFIXES[metric._type]}
            labels |= set(metric._labelnames)
    return names, labels


def fresh() -> CollectorRegistry:
    """A registry of its own, so declaring a metrics class twice does not clash."""
    return CollectorRegistry()
