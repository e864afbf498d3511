"""What the gateway checks in a request before any route sees it, and whose address it is.

- Headers: their total size is bounded (431; the HTTP server bounds them first, see `gateway.server`).
- NUL: PostgreSQL stores no NUL character, so one in the path, a query parameter or a form field is
  refused (400) instead of failing a query or the audit log later; the OpenAPI schema says so
  (`nul_free_schema`). JSON bodies may carry NUL in their strings: they are forwarded, not stored.
- JSON nesting: a body nested deeper than the limit is refused (400) before it is parsed, since parsing
  and validating it recurse once per level.
- The client's address is the peer's, unless the peer is a configured trusted proxy: then the nearest
  address in `X-Forwarded-For` that is not a trusted proxy (AIPRIME_GATEWAY_TRUSTED_PROXIES, empty by
  default, so a forged header changes nothing).
"""

from __future__ import annotations

import functools
import ipaddress
import operator
import re
from collections.abc import Iterable, Sequence
from itertools import accumulate, count
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Scope

from aiprime.errors import HeadersTooLarge, InvalidInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A string, or an unterminated one up to the end; possessive, so no input makes it backtrack.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_IS_OPENING = bytes.maketrans(b"[]{}", b"\x01\x00\x01\x00")
_twice = functools.partial(operator.mul, 2)
_FORM = "application/x-www-form-urlencoded"
NUL_FREE = "^[^\\u0000]*$"  # JSON Schema: any string without NUL


def check_headers(scope: Scope, limit: int) -> None:
    """HeadersTooLarge when the request line and headers exceed `limit` bytes."""
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
    if size > limit:
        raise HeadersTooLarge(
            f"The request's headers have {size} bytes; the limit is {limit} "
            "(AIPRIME_GATEWAY_MAX_HEADER_BYTES). Send a shorter URL or fewer, smaller headers."
        )


def check_text(scope: Scope) -> None:
    """InvalidInput naming the part of the URL that holds a NUL character."""
    if "\x00" in scope["path"]:
        raise InvalidInput("The request path holds a NUL character (%00); remove it.")
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            raise InvalidInput(f"The query parameter {name[:64]!r} holds a NUL character (%00); remove it.")


def check_body(content_type: str, body: bytes, max_depth: int) -> None:
    """InvalidInput when a form or JSON body holds a NUL character or JSON nests deeper than `max_depth`."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                raise InvalidInput(f"The form field {name[:64]!r} holds a NUL character; remove it.")
    elif content_type.startswith("multipart/form-data"):
        if b"\x00" in body:
            raise InvalidInput("A form field holds a NUL character; remove it.")
    elif "json" in content_type or (not content_type and body[:1] in (b"{", b"[")):
        depth = json_depth(body)
        if depth > max_depth:
            raise InvalidInput(
                f"The JSON body nests more than {max_depth} levels of arrays and objects (the limit, "
                "AIPRIME_GATEWAY_MAX_JSON_DEPTH); flatten `instances` or `parameters`."
            )


def nul_free_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (an OpenAPI document) with every string of a parameter or a form body that has no pattern
    given one that excludes NUL, as `check_text` and `check_body` enforce."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                _forbid_nul(parameter.get("schema", {}))
            form = operation.get("requestBody", {}).get("content", {}).get(_FORM, {})
            _forbid_nul(form.get("schema", {}))
    return schema


def _forbid_nul(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _forbid_nul(item)
    elif isinstance(node, dict):
        if node.get("type") == "string" and not {"pattern", "const", "enum", "format"} & node.keys():
            node["pattern"] = NUL_FREE
        for value in node.values():
            _forbid_nul(value)


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, in time linear in its size and in C:
    strings are cut out by one possessive regex, and the depth after the i-th bracket is
    2 * (openings among the first i) - i."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    openings = accumulate(brackets.translate(_IS_OPENING))  # openings among the first i brackets
    return max(map(operator.sub, map(_twice, openings), count(1)), default=0)


def trusted_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Parse addresses and CIDRs (`10.0.0.0/8`, `127.0.0.1`); ValueError names a bad one."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    """The requester's address: the peer's, or through trusted proxies the nearest untrusted forwarded one."""
    peer = scope["client"][0] if scope.get("client") else "unknown"
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    forwarded = [
        hop.strip()
        for name, value in scope["headers"]
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed(forwarded):
        if not _is_trusted(hop, trusted):
            return hop if _is_address(hop) else peer
    return forwarded[0] if forwarded and _is_address(forwarded[0]) else peer


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
