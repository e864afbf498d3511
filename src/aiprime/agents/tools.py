"""The agents' tools: the platform's own APIs, called through the gateway with the calling user's token.

A tool call is an HTTP request to the gateway carrying the user's bearer token, the run's id
(`X-Agent-Run`, which the gateway's audit row records) and the current trace context, so RBAC, limits and
the audit log apply to an agent exactly as to the person who runs it. What the gateway refuses becomes the
step's status (`forbidden` for a 403, with the gateway's message), never an exception. `python` too goes
through the gateway (`POST /v1/agents/python`, permission `python`), which runs the code in the bubblewrap
sandbox (`aiprime.agents.sandbox`); the sandbox's status is the step's. Tools that change state (`train`,
`deploy`) are marked: the graph asks a person before it calls them. `transcribe` and `image_search` send the
file the task names (read here, base64) to `POST /v1/transcribe` and `POST /v1/search/image`; a file that
cannot be read is the step's `bad_input`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from aiprime.errors import InvalidInput
from aiprime.observability import tracing
from aiprime.security.apikeys import parse_key

AGENT_RUN_HEADER = "x-agent-run"
SANDBOX_MARGIN_S = 0.5  # of a python call's time, left for the gateway's round trip
SANDBOX_OUTPUT_SHARE = 4  # stdout and stderr are each cut at this share of a tool's answer limit


def sandbox_output_bytes(max_output_bytes: int) -> int:
    """Where the sandbox cuts stdout and stderr (each) so that its answer, JSON and all, stays within the
    tool's limit and the sandbox's own `output_limit` status comes back (at least 1 KiB, at most 64 KiB)."""
    return min(max(max_output_bytes // SANDBOX_OUTPUT_SHARE, 1024), 64 * 1024)


#: Gateway answers that say who may not do what, as the step statuses they become.
REFUSALS = {401: "unauthenticated", 403: "forbidden", 429: "rate_limited", 504: "timeout"}


@dataclass(frozen=True)
class Tool:
    """A tool an agent may use: the gateway route it calls and how a step's input becomes its body."""

    name: str
    description: str
    path: str  # the gateway route
    body: Callable[[str], dict[str, Any]] = field(repr=False)
    source: str | None = None  # keep only the retrieval hits of this source (a lookup)
    changes_state: bool = False  # needs a person's approval first


MEDIA_FIELDS = {"transcribe": "audio", "image_search": "image"}  # the body field each media tool fills
MAX_MEDIA_BYTES = 20_000_000  # read of a named file at most (the gateway bounds each modality further)


def read_media(path: str, field: str, limit: int = MAX_MEDIA_BYTES) -> bytes:
    """At most `limit + 1` bytes of the file a task names (a larger one is refused by the gateway, 413).

    Raises:
        InvalidInput: not a readable regular file; the message names the path and what the tool takes.
    """
    try:
        with open(path, "rb") as file:
            return file.read(limit + 1)
    except OSError as e:
        raise InvalidInput(
            f"{field} {path!r}: cannot read it ({e.strerror}); quote the path of an {field} file on this machine."
        ) from e


def _media_body(field: str) -> Callable[[str], dict[str, Any]]:
    return lambda path: {field: base64.b64encode(read_media(path, field)).decode()}


def _deploy_body(text: str) -> dict[str, Any]:
    model, _, version = text.strip().partition("@")
    return {"model": model, "version": version or "champion"}


TOOLS = {
    tool.name: tool
    for tool in (
        Tool("classify", "the mixture of experts' lexicographer class", "/v1/predict", lambda t: {"instances": [t]}),
        Tool("explain", "the words that pushed a prediction", "/v1/explain", lambda t: {"instances": [t]}),
        Tool("ask", "a grounded answer from retrieved passages", "/v1/ask", lambda t: {"question": t}),
        Tool("search", "retrieved passages", "/v1/search", lambda t: {"query": t, "top_k": 5}),
        Tool("wordnet", "WordNet senses of a word", "/v1/search", lambda t: {"query": t, "top_k": 20}, "wordnet"),
        Tool("foldoc", "a FOLDOC entry", "/v1/search", lambda t: {"query": t, "top_k": 20}, "foldoc"),
        Tool("python", "run Python in the sandbox", "/v1/agents/python", lambda t: {"code": t}),
        Tool("transcribe", "the words spoken in an audio file", "/v1/transcribe", _media_body("audio")),
        Tool("image_search", "the stamps nearest to an image file", "/v1/search/image", _media_body("image")),
        Tool("train", "start a training pipeline", "/v1/train", lambda t: {"pipeline": t.strip() or "moe"}, None, True),
        Tool("deploy", "serve a model version (NAME@VERSION)", "/v1/deploy", _deploy_body, None, True),
    )
}  # fmt: skip


@dataclass(frozen=True)
class ToolResult:
    """How one tool call ended: `status` is ok, forbidden, unauthenticated, rate_limited, timeout, too_large,
    unavailable, error, or the sandbox's own status for python (timeout, cpu_limit, output_limit, ...)."""

    tool: str
    status: str
    output: Any  # the JSON answer (a lookup's hits only), or the sandbox's stdout/stderr; None on failure
    message: str  # for people: what happened, and the fix when it failed
    http_status: int | None = None
    request_id: str | None = None  # the gateway's X-Request-Id: finds its audit row and log lines
    output_bytes: int = 0


def tool_named(name: str) -> Tool:
    """The tool called `name`; InvalidInput listing the tools otherwise."""
    if name not in TOOLS:
        raise InvalidInput(f"No tool named {name!r}; the tools are {', '.join(TOOLS)}.")
    return TOOLS[name]


class GatewayTools:
    """The tools of one run: they call the gateway at `gateway_url` as the user whose token they hold."""

    def __init__(
        self,
        gateway_url: str,
        token: str,
        run_id: str,
        *,
        timeout_s: float = 30.0,
        max_output_bytes: int = 64 * 1024,
        read_files: bool = True,
    ) -> None:
        """Args: timeout_s bounds one call (the run's time left bounds it further); max_output_bytes cuts
        a larger answer (status too_large); read_files lets the media tools read the file a task names
        (False where this process's files are not the caller's, as in the gateway)."""
        self.client = httpx.Client(
            base_url=gateway_url,
            headers={"authorization": f"Bearer {token}", AGENT_RUN_HEADER: run_id},
        )
        self.timeout_s, self.max_output_bytes, self.read_files = timeout_s, max_output_bytes, read_files

    def close(self) -> None:
        """Close the pooled connections."""
        self.client.close()

    def call(self, name: str, text: str, time_left_s: float | None = None) -> ToolResult:
        """Call the tool `name` on `text`; what goes wrong is the result's status, not an exception."""
        tool = tool_named(name)
        timeout = min(self.timeout_s, time_left_s) if time_left_s is not None else self.timeout_s
        try:
            body = self._body(tool, text)
        except InvalidInput as e:
            return ToolResult(name, "bad_input", None, str(e))
        if name == "python":  # the sandbox stops first, so its own status comes back
            body["timeout_s"] = min(max(timeout - SANDBOX_MARGIN_S, 0.1), 60.0)
            body["output_bytes"] = sandbox_output_bytes(self.max_output_bytes)
        headers: dict[str, str] = {}
        tracing.inject(headers)  # the gateway's span continues the step's trace
        try:
            return self._post(tool, body, headers, max(timeout, 0.001))
        except httpx.TimeoutException:
            return ToolResult(name, "timeout", None, f"{name} did not answer within {timeout:.1f} s.")
        except httpx.HTTPError as e:
            message = f"The gateway could not be reached ({type(e).__name__}: {e}); check the gateway URL."
            return ToolResult(name, "unavailable", None, message)

    def _body(self, tool: Tool, text: str) -> dict[str, Any]:
        if tool.name in MEDIA_FIELDS and not self.read_files:
            raise InvalidInput(
                f"{tool.name} reads the file the task names, and this process does not read the caller's "
                "files; run or resume the agent with `aiprime agents` on the machine that holds the file."
            )
        return tool.body(text)

    def _post(self, tool: Tool, body: dict[str, Any], headers: dict[str, str], timeout: float) -> ToolResult:
        with self.client.stream("POST", tool.path, json=body, headers=headers, timeout=timeout) as answer:
            content = _bounded(answer, self.max_output_bytes)
        request_id = answer.headers.get("x-request-id")
        if content is None:
            message = f"{tool.name}'s answer was over {self.max_output_bytes} bytes; it was cut and dropped."
            return ToolResult(tool.name, "too_large", None, message, answer.status_code, request_id)
        document = _json(content)
        if answer.status_code >= 400:
            status = REFUSALS.get(answer.status_code, "error")
            message = f"The gateway answered {answer.status_code} for {tool.name}: {_error_message(document)}"
            return ToolResult(tool.name, status, None, message, answer.status_code, request_id, len(content))
        if tool.name == "python":
            status = str(document.get("status", "error"))
            message = "ok" if status == "ok" else f"the sandbox stopped the code: {status}"
            return ToolResult(
                tool.name, status, document, message, answer.status_code, request_id, len(content)
            )
        output = _hits_of(document, tool.source) if tool.source else document
        return ToolResult(tool.name, "ok", output, "ok", answer.status_code, request_id, len(content))


def _bounded(answer: httpx.Response, limit: int) -> bytes | None:
    """The body, read up to `limit` bytes; None when it is longer (the rest is never read)."""
    content = bytearray()
    for chunk in answer.iter_bytes():
        content += chunk
        if len(content) > limit:
            return None
    return bytes(content)


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return {"text": content.decode(errors="replace")}


def _error_message(document: Any) -> str:
    """The gateway's `error.message` (which names the fix), else the body itself."""
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict) and "message" in error:
        return str(error["message"])
    return json.dumps(document)[:300]


def _hits_of(document: Any, source: str) -> list[dict[str, Any]]:
    """The retriever's hits (its v1 records' `hits`) of one source: a WordNet or FOLDOC lookup."""
    records = document.get("predictions", []) if isinstance(document, dict) else []
    hits = [hit for record in records if isinstance(record, dict) for hit in record.get("hits", [])]
    return [hit for hit in hits if isinstance(hit, dict) and hit.get("source") == source][:3]


def token_subject(token: str) -> str:
    """Who a bearer token names, for the run's record only: the gateway verifies the token on every call.

    Raises:
        InvalidInput: it is neither a gateway access token (JWT) nor an API key.
    """
    key = parse_key(token)
    if key is not None:
        return f"api-key:{key.key_id}"
    try:
        return str(jwt.decode(token, options={"verify_signature": False})["sub"])
    except (jwt.PyJWTError, KeyError) as e:
        raise InvalidInput(
            "The token is neither a gateway access token nor an API key; get one from POST /oauth/token "
            "(or `aiprime keys create`) and pass it with --token or AIPRIME_TOKEN."
        ) from e
