"""The gateway's own error conditions, and the one JSON shape in which every error is answered.

    {"error": {"code": "rate_limited", "message": "...what and how to fix...", "request_id": "..."}}

The status comes from the exception's `http_status` (see `aiprime.errors`); extra headers (`Retry-After`,
`WWW-Authenticate`) from its `headers` attribute.
"""

from __future__ import annotations

import json

from aiprime.errors import AIPrimeError, error_code


def error_body(code: str, message: str, request_id: str | None) -> bytes:
    """The JSON error document."""
    return json.dumps({"error": {"code": code, "message": message, "request_id": request_id}}).encode()


def describe(e: AIPrimeError) -> tuple[int, str, dict[str, str]]:
    """(status, code, headers) of an AI Prime error, for the answer."""
    return e.http_status, error_code(e), dict(getattr(e, "headers", {}) or {})
