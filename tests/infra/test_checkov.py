"""Checkov finds no failed check in terraform/, kustomize/ or the Dockerfile. Exceptions are inline skips
that give their reason (`#checkov:skip=` in HCL and Dockerfiles, `checkov.io/skipN` annotations in
manifests), so they are reviewed with the code they excuse.

Checkov lives in its own virtual environment, `.venv-tools` (it pins an old `packaging` and replaces the
`hcl2` module of the project's python-hcl2):
    python3 -m venv .venv-tools && .venv-tools/bin/pip install checkov
"""

from __future__ import annotations

import json
import subprocess

import pytest

SCANS = {
    "terraform": ["-d", "terraform", "--framework", "terraform"],
    "kustomize": ["-d", "kustomize", "--framework", "kustomize"],
    "dockerfile": ["-f", "docker/aiprime.Dockerfile", "--framework", "dockerfile"],
}


@pytest.mark.slow
@pytest.mark.parametrize("scan", sorted(SCANS))
def test_checkov_finds_nothing(infra, scan: str) -> None:
    checkov = infra.repo / ".venv-tools" / "bin" / "checkov"
    if not checkov.exists():
        pytest.skip(
            "checkov is not installed: python3 -m venv .venv-tools && .venv-tools/bin/pip install checkov"
        )
    # --skip-download: no calls to Prisma Cloud for guidelines; the checks themselves ship with checkov.
    result = subprocess.run(
        [str(checkov), *SCANS[scan], "--output", "json", "--quiet", "--compact", "--skip-download"],
        cwd=infra.repo,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert reports and all(r["summary"]["parsing_errors"] == 0 for r in reports), result.stderr[-2000:]
    assert not failed, "fix these or add a justified inline skip:\n" + "\n".join(failed)
