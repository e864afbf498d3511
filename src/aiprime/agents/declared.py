"""The declared agents: each one's name, version, tools, policy and limits, in this one place.

An agent is versioned like a model: change its tools, policy or limits and raise its version, so every run
(`agents.runs.agent_version`) says which declaration it ran under. `DIGESTS` pins each version's declaration
and tests/agents/test_graph.py fails when one changes without a new version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from aiprime.agents.tools import TOOLS
from aiprime.errors import InvalidInput


@dataclass(frozen=True)
class Limits:
    """Where a run stops and waits for a person (resume gives it the same budget again, or cancel)."""

    max_steps: int = 6  # tool calls per budget
    max_time_s: float = 120.0  # wall clock per budget; a tool call gets at most what is left
    max_tokens: int = 4000  # tool output entering the answer plus the answer, estimated as bytes / 4
    max_output_bytes: int = 64 * 1024  # one tool's answer (or the sandbox's output); more is dropped
    tool_timeout_s: float = 30.0  # one tool call


@dataclass(frozen=True)
class Agent:
    """A declared agent."""

    name: str
    version: int
    description: str
    tools: tuple[str, ...]  # the tools its plans may use; a plan naming another is refused
    policy: str  # `rules` (aiprime.agents.rules), or a learned policy's `models:/NAME@ALIAS` or folder
    limits: Limits = Limits()
    fallback: str | None = (
        None  # `rules`: chooses while the learned policy cannot be loaded (the run says why)
    )

    def digest(self) -> str:
        """A hash of the declaration: what its version stands for (unset optional fields left out, so a field
        added later does not change the declarations that do not use it)."""
        declared = {k: v for k, v in asdict(self).items() if v is not None}
        return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()[:16]


LEARNED_POLICY = "models:/aiprime-agent-policy@champion"  # aiprime.agents.policy.REGISTERED_NAME
READ_TOOLS = (
    "classify",
    "explain",
    "ask",
    "search",
    "wordnet",
    "foldoc",
    "python",
    "transcribe",
    "image_search",
)
AGENTS = {
    agent.name: agent
    for agent in (
        Agent("assistant", 3, "answers from the platform's models, retrieval and the sandbox", READ_TOOLS,
              LEARNED_POLICY, fallback="rules"),
        Agent("operator", 1, "trains and deploys, each after a person approves", ("train", "deploy"), "rules"),
    )
}  # fmt: skip
#: The declaration each version stands for (Agent.digest); a changed declaration needs a new version.
DIGESTS = {("assistant", 3): "e65a0dbc1fa1680e", ("operator", 1): "a0137b44e1f84d05"}


def agent_named(name: str) -> Agent:
    """The declared agent `name`; InvalidInput lists the agents otherwise."""
    if name not in AGENTS:
        raise InvalidInput(
            f"No agent named {name!r}; the agents are {', '.join(AGENTS)} (aiprime agents list)."
        )
    agent = AGENTS[name]
    assert set(agent.tools) <= set(TOOLS), f"{name} declares unknown tools {set(agent.tools) - set(TOOLS)}"
    return agent
