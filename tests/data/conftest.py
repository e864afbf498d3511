"""Fixtures for the data tests: the real Debian sources, skipped with the install command if absent."""

from __future__ import annotations

import pytest

from aiprime.data.sources import require_sources
from aiprime.errors import DataSourceMissing
from aiprime.settings import Settings


@pytest.fixture(scope="session")
def debian_sources() -> Settings:
    """Settings whose source paths hold the installed Debian packages; skips, naming the apt command, if not."""
    settings = Settings()
    try:
        require_sources(settings)
    except DataSourceMissing as e:
        pytest.skip(str(e))
    return settings
