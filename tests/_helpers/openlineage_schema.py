"""The OpenLineage RunEvent as a JSON schema, for the tests.

openlineage-python 1.54.0 ships no JSON schema (only classes generated from it), and nothing is downloaded
at test time, so this restates the constraints of the spec's `OpenLineage.json` (2-0-2) that a RunEvent must
meet: the required fields, the event types, a UUID run id, date-time and URI formats, and the `_producer`
and `_schemaURL` that every facet carries.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from jsonschema import Draft202012Validator, FormatChecker

FACET = {
    "type": "object",
    "properties": {
        "_producer": {"type": "string", "format": "uri"},
        "_schemaURL": {"type": "string", "format": "uri"},
    },
    "required": ["_producer", "_schemaURL"],
}
FACETS = {"type": "object", "additionalProperties": FACET}
DATASET = {
    "type": "object",
    "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": FACETS},
    "required": ["namespace", "name"],
}
RUN_EVENT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "run": {
            "type": "object",
            "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": FACETS},
            "required": ["runId"],
        },
        "job": {
            "type": "object",
            "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": FACETS},
            "required": ["namespace", "name"],
        },
        "inputs": {"type": "array", "items": DATASET},
        "outputs": {"type": "array", "items": DATASET},
    },
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
}

_formats = (
    FormatChecker()
)  # without rfc3339-validator and rfc3987 installed, date-time and uri are checked here


@_formats.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@_formats.checks("uri", raises=ValueError)
def _uri(value: object) -> bool:
    return not isinstance(value, str) or value.split(":", 1)[0] in ("http", "https")


@_formats.checks("uuid", raises=ValueError)
def _uuid(value: object) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value


VALIDATOR = Draft202012Validator(RUN_EVENT, format_checker=_formats)


def errors(event: dict) -> list[str]:
    """What in `event` breaks the RunEvent schema (empty when it is valid)."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(event)]
