"""Fixtures of the agents' tests: the platform upstream and a real gateway in front of it, per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _helpers.agent_gateway import PlatformUpstream, agent_gateway, platform_upstream
from _helpers.gateways import Gateway


@pytest.fixture(scope="module")
def platform() -> Iterator[PlatformUpstream]:
    """The platform upstream for a test module."""
    with platform_upstream() as up:
        yield up


@pytest.fixture(scope="module")
def gateway(
    app_db_url: str, platform: PlatformUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """A gateway in front of it for a test module."""
    gw = agent_gateway(app_db_url, tmp_path_factory.mktemp("agent-gateway"), platform.url)
    yield gw
    gw.stop()
