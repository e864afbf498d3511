"""Sample queries answered through the served graph: how `aiprime run` ends.

The stack is (re)started on the current champions, so the answers come from the models this run
registered, and it is left running for `aiprime ask`; `aiprime serve stop` stops it.
"""

from __future__ import annotations

from aiprime.serving import client, launcher
from aiprime.serving.client import Answer
from aiprime.serving.launcher import ServeOptions, Stack
from aiprime.settings import Settings

SAMPLE_QUERIES = (  # one per domain, none of them a WordNet gloss
    "a small dog that barks",
    "a hammer and a saw in the toolbox",
    "the mayor and the city council",
    "a feeling of deep sadness",
    "to run quickly across the field",
    "bright red and very shiny",
)


def serve_and_ask(settings: Settings, queries: tuple[str, ...] = SAMPLE_QUERIES,
                  options: ServeOptions | None = None) -> tuple[Stack, list[Answer]]:
    """Restart the serving stack on the champions and send each query through its InferenceGraph.

    Raises:
        ServiceUnavailable: a server did not start or did not answer.
    """
    launcher.stop(settings)
    stack = launcher.start(options or ServeOptions(router_port=0), settings)
    answers = [client.ask(text, stack.router_url, stack.services(), explain=False) for text in queries]
    return stack, answers
