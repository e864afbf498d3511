"""The fixed tool rule: the plan an agent follows until a learned policy (`aiprime.agents.policy`) is used.

Keyword rules over the request, returning the same `Plan` a policy does (propensity 1: it is deterministic),
so a run records what the rule chose exactly as it would a policy's choice.
"""

from __future__ import annotations

import re

from aiprime.agents.plans import Plan, arguments, iso_dates, media_plan

_ARITHMETIC = re.compile(r"^[\d\s+\-*/%()]+$")
RULES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"^\s*train\b", re.IGNORECASE), ("train",)),
    (re.compile(r"^\s*deploy\b", re.IGNORECASE), ("deploy",)),
    (re.compile(r"\b(computing|foldoc|acronym|protocol|programming)\b", re.IGNORECASE), ("foldoc",)),
    (re.compile(r"\b(python|module|function|stdlib|library)\b", re.IGNORECASE), ("search",)),
    (re.compile(r"\b(lexicographer|classify|class of)\b", re.IGNORECASE), ("classify",)),
    (re.compile(r"\b(explain|why)\b", re.IGNORECASE), ("explain",)),
    (re.compile(r"\b(define|definition|meaning|mean|word|synonym|sense)\b", re.IGNORECASE), ("wordnet",)),
)


def choose_plan(text: str) -> Plan:
    """The plan the rule picks for `text`: the media tool for a quoted audio or image file, python for quoted
    arithmetic or dates, else by keyword, else ask."""
    if media := media_plan(text):
        return Plan(media, 1.0)
    spans = arguments(text)
    if spans and (iso_dates(spans) or _ARITHMETIC.match(spans[0])):
        return Plan(("python",), 1.0)
    for pattern, tools in RULES:
        if pattern.search(text):
            return Plan(tools, 1.0)
    return Plan(("ask",), 1.0)
