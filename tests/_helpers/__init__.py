"""Helpers the test suites import (`from _helpers import AsgiServer`); pytest puts `tests/` on sys.path."""

from _helpers.servers import AsgiServer, free_port, jwks_server, raw_request

__all__ = ["AsgiServer", "free_port", "jwks_server", "raw_request"]
