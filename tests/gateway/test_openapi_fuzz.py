"""Schemathesis against the gateway's own OpenAPI: generated requests, authenticated, never a 5xx.

Schemathesis 4.32's pytest loader does not run under pytest 9 (it reads `node._nodeid`), so this test drives
its Hypothesis strategies per operation itself.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 12  # per operation, valid and invalid requests mixed: about 20 operations, ~250 requests


@pytest.fixture(scope="module")
def credentials(gateway, principals) -> dict[str, str]:
    """An admin's and an auditor's API keys (separation of duty: no one principal holds both)."""
    return {"admin": principals.service("admin")[1], "auditor": principals.service("auditor")[1]}


def _exercise(operation, token: str) -> None:
    modes = [operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]

    @given(case=st.one_of(modes))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        case.call_and_validate(headers={"authorization": f"Bearer {token}"}, checks=CHECKS)

    run()


def test_generated_requests_never_get_a_server_error(gateway, credentials) -> None:
    api = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 19
    failures = []
    for operation in operations:
        role = "auditor" if operation.path.startswith("/v1/audit") else "admin"
        try:
            _exercise(operation, credentials[role])
        except Exception as e:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {e}")
    assert not failures, "\n\n".join(failures)
