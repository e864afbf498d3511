"""The exception hierarchy of AI Prime.

Every error a user can cause or meet derives from `AIPrimeError`. Each class's docstring names the HTTP
status that servers map it to (`http_status`), and every message states the fix, so the CLI can print it
as one line instead of a stack trace.
"""

from __future__ import annotations


class AIPrimeError(Exception):
    """Base of all AI Prime errors. HTTP servers should return HTTP_500 (Internal Server Error)."""

    http_status: int = 500


class InvalidInput(AIPrimeError):
    """A request or argument is malformed. HTTP servers should return HTTP_400 (Bad Request)."""

    http_status = 400


class ConfigError(AIPrimeError):
    """A setting (an `AIPRIME_*` variable or a config file) is wrong. HTTP servers should return HTTP_500."""

    http_status = 500


class NotFound(AIPrimeError):
    """A named thing (model, dataset, route) does not exist. HTTP servers should return HTTP_404 (Not Found)."""

    http_status = 404


class DataSourceMissing(AIPrimeError):
    """A source data file is absent (e.g. a Debian package is not installed).

    HTTP servers should return HTTP_503 (Service Unavailable).
    """

    http_status = 503


class DataCorrupt(AIPrimeError):
    """A source or stored file cannot be parsed. HTTP servers should return HTTP_422 (Unprocessable Entity)."""

    http_status = 422


class ServiceUnavailable(AIPrimeError):
    """A backing service (PostgreSQL, MLflow, a model server) cannot be reached or started.

    HTTP servers should return HTTP_503 (Service Unavailable).
    """

    http_status = 503


class PortInUse(ServiceUnavailable):
    """A port that a local service needs is taken by another process. HTTP servers should return HTTP_503."""


class ModelNotReady(ServiceUnavailable):
    """A model is not loaded yet, or no version carries the asked-for alias. HTTP servers should return HTTP_503."""


class StageFailed(AIPrimeError):
    """A pipeline stage (DVC or Kubeflow Pipelines) failed; the message carries its own error line.

    HTTP servers should return HTTP_500 (Internal Server Error).
    """
