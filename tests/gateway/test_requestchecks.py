"""The request checks as plain functions: JSON depth (brackets inside strings do not count), NUL-free
schemas, and whose address a request has behind trusted proxies."""

from __future__ import annotations

import json

import pytest

from aiprime.errors import InvalidInput
from aiprime.gateway.requestchecks import (
    NUL_FREE,
    check_body,
    client_address,
    json_depth,
    nul_free_schema,
    trusted_networks,
)


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"", 0),
        (b'"a [ string {"', 0),
        (b"[]", 1),
        (b"[][][]", 1),
        (json.dumps({"instances": ["]]]", {"a": [[{"b": "[[[\\"}]]}]}).encode(), 6),
        (b'["\\"[[[", [1]]', 2),  # an escaped quote does not end the string
        (b'["unterminated [[[[', 1),
        (
            b'{"a": ["' + b'\\"' * 5000,
            2,
        ),  # many escaped quotes and no end: the input that made a regex backtrack
    ],
)
def test_json_depth_counts_brackets_outside_strings(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def test_a_body_nested_past_the_limit_is_refused_naming_the_setting() -> None:
    check_body("application/json", b"[" * 3 + b"]" * 3, max_depth=3)
    with pytest.raises(InvalidInput, match="AIPRIME_GATEWAY_MAX_JSON_DEPTH"):
        check_body("application/json", b"[" * 4 + b"]" * 4, max_depth=3)


def test_the_schema_forbids_nul_in_parameters_and_form_fields_only() -> None:
    schema = {
        "paths": {
            "/a": {
                "get": {
                    "parameters": [
                        {"name": "q", "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
                        {"name": "n", "schema": {"type": "string", "pattern": "^[a-z]+$"}},
                    ],
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {"properties": {"f": {"type": "string"}}}
                            },
                            "application/json": {"schema": {"properties": {"j": {"type": "string"}}}},
                        }
                    },
                }
            }
        }
    }
    operation = nul_free_schema(schema)["paths"]["/a"]["get"]
    assert operation["parameters"][0]["schema"]["anyOf"][0]["pattern"] == NUL_FREE
    assert operation["parameters"][1]["schema"]["pattern"] == "^[a-z]+$"  # its own pattern stays
    content = operation["requestBody"]["content"]
    assert content["application/x-www-form-urlencoded"]["schema"]["properties"]["f"]["pattern"] == NUL_FREE
    assert "pattern" not in content["application/json"]["schema"]["properties"]["j"]


def _scope(peer: str, forwarded: str | None) -> dict:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"client": (peer, 1234), "headers": headers}


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("127.0.0.1", "127.203.0.7", "", "127.0.0.1"),  # nothing trusted: the header is ignored
        # Proxies stand in 127.10.0.0/16 (addresses only parsed here, never reached).
        ("127.99.0.9", "127.203.0.7", "127.10.0.0/16", "127.99.0.9"),  # an untrusted peer
        ("127.10.0.5", "127.203.0.7", "127.10.0.0/16", "127.203.0.7"),
        ("127.10.0.5", "127.203.0.66, 127.203.0.7, 127.10.0.9", "127.10.0.0/16", "127.203.0.7"),  # forged hop
        ("127.10.0.5", "not-an-address", "127.10.0.0/16", "127.10.0.5"),
        ("127.10.0.5", None, "127.10.0.0/16", "127.10.0.5"),
    ],
)
def test_the_client_is_the_nearest_hop_that_is_not_a_trusted_proxy(
    peer: str, forwarded: str | None, trusted: str, client: str
) -> None:
    assert client_address(_scope(peer, forwarded), trusted_networks(trusted.split(","))) == client


def test_a_bad_trusted_proxy_setting_names_the_field() -> None:
    from pydantic import ValidationError

    from aiprime.gateway import GatewaySettings

    with pytest.raises(ValidationError, match="trusted_proxies"):
        GatewaySettings(_env_file=None, trusted_proxies="127.10.0.0/16, not-a-network")
