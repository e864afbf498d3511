"""The served champions and sample queries answered through their graph: how `aiprime run` ends.

The stack is (re)started on the current champions, so the answers come from the models this run
registered, and it is left running for `aiprime ask`; `aiprime serve stop` stops it. When the stack runs the
gateway and the caller gives a token (the run's service identity, made at the edge), each query goes through
the gateway's ask route, so its audit row names who asked and the versions and chunks that answered, and
`aiprime lineage <request id>` resolves it; otherwise straight to the router.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from aiprime.serving import client, launcher
from aiprime.serving.launcher import ServeOptions, Stack
from aiprime.serving.names import domain_of, registered_model_name
from aiprime.settings import Settings

# What a person sends, of three query kinds; none is a WordNet gloss or a test-split question. On a full make
# run's store with its re-ranker (4eb321e) four were answered and "honesty" and "bank" abstained; the README
# measures how often each kind is answered, and right, on test questions.
SAMPLE_QUERIES = (
    'What does "cell" mean in "the prisoner sat alone in his cell"?',
    'What does "whisper" mean in "she began to whisper the secret"?',
    'What does "honesty" mean in "honesty is the best policy"?',
    "sqlite3.connect",  # a code name: the docs section that defines it
    "a small dog that barks",  # a description, answered only if a gloss scores above the threshold
    'What does "bank" mean in "we sat on the bank of the river"?',  # the river sense is ranked third
)


@dataclass(frozen=True)
class SampleAnswer:
    """One sample query as the graph answered it."""

    text: str  # the query
    route: dict[str, float]  # the gate's two first choices and their probabilities
    answered_by: list[str]  # the expert(s) whose scores make the answer
    label: str  # the answer's top label
    score: float  # its score
    reply: str | None = None  # the generator's answer (RAG graph only)
    citations: list[str] = field(default_factory=list)  # the retrieved doc ids the reply cites
    mode: str | None = None  # generated, extractive (the best passage quoted) or abstained (RAG graph only)
    request_id: str | None = None  # the X-Request-Id it was sent under: `aiprime lineage` takes it


def serve_and_ask(
    settings: Settings,
    queries: tuple[str, ...] = SAMPLE_QUERIES,
    options: ServeOptions | None = None,
    token: Callable[[], str] | None = None,
) -> tuple[Stack, list[SampleAnswer]]:
    """Restart the serving stack on the champions and send each query through its InferenceGraph (through its
    gateway as the principal of the tokens `token()` mints when it runs one: see `ask_samples`).

    Raises:
        ServiceUnavailable: a server did not start or did not answer.
    """
    launcher.stop(settings)
    stack = launcher.start(options or ServeOptions(router_port=0), settings)
    return stack, ask_samples(stack, queries, token)


def ask_samples(
    stack: Stack, queries: tuple[str, ...] = SAMPLE_QUERIES, token: Callable[[], str] | None = None
) -> list[SampleAnswer]:
    """Send each query through the running `stack`'s InferenceGraph: through its gateway's `POST /v1/ask` as
    the principal of a fresh bearer token from `token()` (one allowed to `ask`; minted per query, so a slow
    graph never outlives it) when the stack runs a gateway and `token` is given, so that the audit log
    records each; else straight to the router.

    Raises:
        ServiceUnavailable: a server did not answer, or the gateway refused the token.
    """
    answers = []
    for text in queries:
        if stack.gateway_url is not None and token is not None:
            a = client.ask_gateway(text, stack.gateway_url, token(), stack.services())
        else:
            a = client.ask(text, stack.router_url, stack.services(), explain=False)
        route = dict(list(zip(a.experts, a.probabilities, strict=True))[:2])
        answers.append(SampleAnswer(text, route, a.answered_by, a.label, a.scores[a.label], a.reply,
                                    a.citations, a.mode, a.request_id))  # fmt: skip
    return answers


def served_versions(stack: Stack, tracking_uri: str, alias: str = "champion") -> dict[str, str | None]:
    """The registry version each model server of `stack` loaded: registered name -> version (None: none)."""
    from aiprime.registry import mlflow_registry as registry  # MLflow: imported on use

    names = [registered_model_name("gate")] + [
        registered_model_name("expert", domain_of(name))
        for name in stack.services()
        if name.startswith("expert-")
    ]
    return {name: registry.version_for(tracking_uri, name, alias) for name in names}


def as_records(answers: list[SampleAnswer]) -> list[dict]:
    """The answers as JSON-ready dicts."""
    return [asdict(a) for a in answers]
