"""Which incoming headers the router forwards: KServe's PROPAGATE_HEADERS rules."""

from __future__ import annotations

import re

import pytest

from aiprime.errors import ConfigError
from aiprime.serving.graph import RouterConfig
from aiprime.serving.graph.upstream import canonical_header, propagated_headers


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("x-request-id", "X-Request-Id"),
        ("AUTHORIZATION", "Authorization"),
        ("content-type", "Content-Type"),
        ("x-b3-traceid", "X-B3-Traceid"),
        ("bad header", "bad header"),  # not a token: left as it is, as Go does
    ],
)
def test_names_are_canonicalised_as_go_does(name: str, canonical: str) -> None:
    assert canonical_header(name) == canonical


@pytest.mark.parametrize(
    ("patterns", "forwarded"),
    [
        ((), []),
        (("Test-Header-*",), [("Test-Header-1", "a"), ("Test-Header-2", "b"), ("Test-Header-2", "c")]),
        (("Auth",), [("Authorization", "Bearer t")]),  # unanchored, like Go's MatchString
        (("^Auth$",), []),
        ((".*",), [("Authorization", "Bearer t"), ("Test-Header-1", "a"), ("Test-Header-2", "b"),
                   ("Test-Header-2", "c")]),  # Host and Content-Length never travel
    ],
)  # fmt: skip
def test_headers_matching_a_pattern_are_forwarded(patterns: tuple[str, ...], forwarded: list) -> None:
    incoming = [
        ("host", "router:8080"),
        ("content-length", "2"),
        ("authorization", "Bearer t"),
        ("test-header-1", "a"),
        ("test-header-2", "b"),
        ("test-header-2", "c"),
    ]
    assert propagated_headers(incoming, [re.compile(p) for p in patterns]) == forwarded


def test_config_reads_propagate_headers_like_kserve() -> None:
    config = RouterConfig.from_env({"PROPAGATE_HEADERS": "Authorization,X-Request-*"}, seed=3)
    assert config.propagate_headers == ("Authorization", "X-Request-*") and config.seed == 3
    assert RouterConfig.from_env({}).propagate_headers == ()


def test_an_invalid_pattern_stops_start_up() -> None:
    with pytest.raises(ConfigError, match=r"Test-Header-\[0-9"):
        RouterConfig(propagate_headers=("Test-Header-[0-9",)).header_patterns()
