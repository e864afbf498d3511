"""The exception hierarchy of AI Prime.

Every error a user can cause or meet derives from `AIPrimeError`. Each class's docstring names the HTTP
status that servers map it to (`http_status`), and every message states the fix, so the CLI can print it
as one line instead of a stack trace.
"""

from __future__ import annotations

import math


class AIPrimeError(Exception):
    """Base of all AI Prime errors. HTTP servers should return HTTP_500 (Internal Server Error)."""

    http_status: int = 500


def error_code(e: AIPrimeError) -> str:
    """The short code of an error: its `code` attribute, else its class name in snake case."""
    name = type(e).__name__
    return getattr(e, "code", None) or "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip(
        "_"
    )


class InvalidInput(AIPrimeError):
    """A request or argument is malformed. HTTP servers should return HTTP_400 (Bad Request)."""

    http_status = 400


class UnknownLabel(InvalidInput):
    """A well-formed value that names no known class. HTTP servers should return HTTP_422 (Unprocessable Entity)."""

    http_status = 422


class NotSpeech(InvalidInput):
    """Well-formed audio that holds no speech (music, an animal, noise). HTTP servers should return HTTP_422."""

    http_status = 422


class DuplicateFeedback(AIPrimeError):
    """This principal already labelled this request. HTTP servers should return HTTP_409 (Conflict)."""

    http_status = 409


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


class QualityGateFailed(AIPrimeError):
    """A built artifact scores below the bar it must meet to be published (an edge bundle against its fp32
    champion); nothing was published. HTTP servers should return HTTP_422 (Unprocessable Content)."""

    http_status = 422


# Authentication, authorization and audit (the gateway maps each to its status).


class Unauthenticated(AIPrimeError):
    """No credential, or an invalid or expired one. HTTP servers should return HTTP_401 (Unauthorized)."""

    http_status = 401
    code = "unauthenticated"

    def __init__(self, message: str, reason: str = "invalid") -> None:
        """Keep `reason` (missing, expired, signature, algorithm, ...) for the metrics and the audit log."""
        super().__init__(message)
        self.reason = reason

    @property
    def headers(self) -> dict[str, str]:
        """RFC 6750: a 401 names the scheme and, for a credential that was sent, `invalid_token`."""
        return {"WWW-Authenticate": 'Bearer realm="aiprime", error="invalid_token"'}


class Forbidden(AIPrimeError):
    """The caller is known but holds no role granting the permission. HTTP servers should return HTTP_403."""

    http_status = 403
    code = "forbidden"


class DutyConflict(AIPrimeError):
    """A role assignment would break a static separation-of-duty constraint.

    HTTP servers should return HTTP_409 (Conflict).
    """

    http_status = 409
    code = "separation_of_duty"


class AlreadyExists(AIPrimeError):
    """A principal to create exists already. HTTP servers should return HTTP_409 (Conflict)."""

    http_status = 409
    code = "already_exists"


class AdminLockout(AIPrimeError):
    """An administrative change would leave no admin, or an admin would remove itself.

    HTTP servers should return HTTP_409 (Conflict).
    """

    http_status = 409
    code = "admin_lockout"


class WrongPrincipalKind(AIPrimeError):
    """The principal is not of the kind the change needs (an API key for a user, ...).

    HTTP servers should return HTTP_409 (Conflict): the request is well formed, the principal's state is not.
    """

    http_status = 409
    code = "wrong_principal_kind"


class AuditChainBroken(DataCorrupt):
    """The audit hash chain does not verify (a row altered or deleted). HTTP servers should return 422."""

    code = "audit_chain_broken"


class InvalidGrant(AIPrimeError):
    """OAuth2 (RFC 6749 5.2): wrong user name or password, or a grant the principal may not use.

    HTTP servers should return HTTP_400 (Bad Request).
    """

    http_status = 400
    code = "invalid_grant"


class InvalidClient(AIPrimeError):
    """OAuth2 (RFC 6749 5.2): client authentication failed. HTTP servers should return HTTP_401."""

    http_status = 401
    code = "invalid_client"

    @property
    def headers(self) -> dict[str, str]:
        """RFC 6749 asks a 401 here to name the Basic scheme the client may use."""
        return {"WWW-Authenticate": 'Basic realm="aiprime"'}


# The gateway's own conditions.


class PayloadTooLarge(AIPrimeError):
    """A request body exceeds the limit. HTTP servers should return HTTP_413 (Content Too Large)."""

    http_status = 413
    code = "payload_too_large"


class UnsupportedMediaType(InvalidInput):
    """A body of a content type the route does not read. HTTP servers should return HTTP_415."""

    http_status = 415


class HeadersTooLarge(AIPrimeError):
    """A request's URL and headers exceed the limit. HTTP servers should return HTTP_431."""

    http_status = 431
    code = "headers_too_large"


class DatabaseUnavailable(ServiceUnavailable):
    """PostgreSQL cannot be reached while serving a request. HTTP servers should return HTTP_503 with Retry-After."""

    code = "database_unavailable"
    retry_after_s = 5

    @property
    def headers(self) -> dict[str, str]:
        """Retry-After: a few seconds, the time a restarted PostgreSQL takes to accept connections."""
        return {"Retry-After": str(self.retry_after_s)}


class RateLimited(AIPrimeError):
    """A principal sent more than its rate allows. HTTP servers should return HTTP_429 with Retry-After."""

    http_status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        """Args: retry_after_s is when the next request will be accepted."""
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        """Retry-After in whole seconds, rounded up (never 0)."""
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_s)))}


class BadGateway(AIPrimeError):
    """An upstream answered with something that is not HTTP. HTTP servers should return HTTP_502."""

    http_status = 502
    code = "bad_gateway"


class UpstreamUnavailable(ServiceUnavailable):
    """An upstream is not configured or cannot be reached. HTTP servers should return HTTP_503."""

    code = "upstream_unavailable"


class UpstreamTimeout(AIPrimeError):
    """An upstream did not answer in time. HTTP servers should return HTTP_504 (Gateway Timeout)."""

    http_status = 504
    code = "upstream_timeout"


class UpstreamError(AIPrimeError):
    """An upstream answered with an error status; the gateway answers with the same status."""

    code = "upstream_error"

    def __init__(self, message: str, status: int) -> None:
        """Args: status is the upstream's own HTTP status (4xx or 5xx)."""
        super().__init__(message)
        self.http_status = status
