"""The end-to-end mixture: the gate picks a domain expert for each input and that expert names the fine class.

`MoESystem` is what evaluation scores and what serving loads: plain modules (no Lightning), built from the
model folders that training writes, or from the champions registered in MLflow. Top-1 sends each input to
the gate's first choice; top-2 asks both first choices and sums their class probabilities weighted by the gate
(renormalised over the two): upcycled experts share the dense model's classes, scratch experts' are disjoint
(then the sum keeps the class with the highest gate-weighted probability). Experts of one shape run as one
`StackedExperts` pass over all inputs, whichever expert each asks; others run one by one.

The gate reads each input's embedding and its word's (`GateNet.inputs`): texts are given with the quoted
word of a sense question (`aiprime.data.questions.word_of`), embeddings with `words` when the caller has them
(a gloss's lemma); without, each input is its own word. The experts read the input's embedding alone.

An expert that the gate knows but that is not loaded (its domain had no data in a small run) is masked:
the gate's probabilities are renormalised over the experts that are there.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aiprime.data.questions import quoted_word
from aiprime.errors import InvalidInput, ModelNotReady
from aiprime.moe.embeddings import EMBED_DIM, encode_texts
from aiprime.moe.fitting import GATE_ROLE, MODEL_FILE, expert_role, fetch_model
from aiprime.moe.networks import GateNet, load_metadata, load_model, save_model
from aiprime.moe.stacking import StackedExperts, can_stack
from aiprime.registry import mlflow_registry as registry


@dataclass(frozen=True)
class Member:
    """One loaded model of the system and the classes of its logits."""

    module: nn.Module  # in eval mode
    classes: tuple[str, ...]  # class of each logit
    metadata: dict  # what training saved with it (role, fingerprint, history, ...)

    @classmethod
    def load(cls, folder: Path) -> Member:
        """The model in a folder that training wrote (it holds `model.pt`)."""
        path = Path(folder) / MODEL_FILE
        metadata = load_metadata(path)
        return cls(load_model(path), tuple(metadata["classes"]), metadata)

    @torch.no_grad()
    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax over this model's classes: (N, d_in) -> (N, C)."""
        logits = self.module(torch.as_tensor(x, dtype=torch.float32)).logits  # (N, C)
        return logits.softmax(dim=-1).numpy()


@dataclass(frozen=True)
class Prediction:
    """The system's answer for N inputs."""

    expert: list[str]  # (N,) the gate's first choice among the loaded experts
    experts: list[tuple[str, ...]]  # (N,) the experts asked, best first (top_k of them)
    probabilities: np.ndarray  # (N, E) gate probabilities over `MoESystem.expert_names`, loaded ones only
    fine_class: list[str]  # (N,) the predicted lexname
    fine_probability: np.ndarray  # (N,) its gate-weighted probability


class MoESystem:
    """Gate -> chosen expert(s) -> fine class, over frozen sentence embeddings."""

    def __init__(self, gate: Member, experts: Mapping[str, Member]) -> None:
        assert isinstance(gate.module, GateNet), (
            f"the gate must be a GateNet, got {type(gate.module).__name__}"
        )
        self.gate = gate
        self.expert_names: tuple[str, ...] = tuple(gate.metadata["experts"])  # gate logit order
        unknown = sorted(set(experts) - set(self.expert_names))
        if unknown:
            raise InvalidInput(
                f"Experts {unknown} are not outputs of the gate {list(self.expert_names)}. "
                "Retrain the gate with them in aiprime/moe/experts.py."
            )
        if not experts:
            raise ModelNotReady("The system has no expert loaded. Train them with `aiprime train`.")
        self.experts = dict(experts)
        self.loaded = [e for e, name in enumerate(self.expert_names) if name in self.experts]  # gate indices
        members = [self.experts[self.expert_names[e]] for e in self.loaded]
        self.classes = tuple(dict.fromkeys(c for m in members for c in m.classes))  # union, first seen first
        column = {c: i for i, c in enumerate(self.classes)}
        width = max(len(m.classes) for m in members)
        self.columns = torch.zeros(len(self.expert_names), width, dtype=torch.long)  # (E, C_max)
        for e, member in zip(self.loaded, members, strict=True):
            self.columns[e, : len(member.classes)] = torch.tensor([column[c] for c in member.classes])
        self.stack = (
            StackedExperts([m.module for m in members]) if can_stack([m.module for m in members]) else None
        )
        self.stack_group = torch.zeros(
            len(self.expert_names), dtype=torch.long
        )  # gate index -> stacked index
        self.stack_group[self.loaded] = torch.arange(len(self.loaded))

    @classmethod
    def from_folders(cls, gate_dir: Path, expert_dirs: Sequence[Path]) -> MoESystem:
        """A system from model folders (each holding `model.pt`), as training writes them."""
        experts = {}
        for folder in expert_dirs:
            member = Member.load(folder)
            experts[member.metadata["expert"]] = member
        return cls(Member.load(gate_dir), experts)

    @classmethod
    def from_registry(cls, tracking_uri: str, alias: str = registry.CHAMPION) -> MoESystem:
        """The system whose gate and experts carry `alias` in MLflow; experts without one are left out."""
        with tempfile.TemporaryDirectory(prefix="aiprime-system-") as tmp:
            gate = Member.load(fetch_model(tracking_uri, GATE_ROLE, Path(tmp) / "gate", alias))
            experts = {}
            for name, domain in zip(gate.metadata["experts"], gate.metadata["classes"], strict=True):
                role = expert_role(domain)
                if registry.version_for(tracking_uri, registry.registered_name(role), alias) is not None:
                    experts[name] = Member.load(fetch_model(tracking_uri, role, Path(tmp) / name, alias))
        return cls(gate, experts)

    def save(self, folder: Path) -> Path:
        """Write the system as `gate/model.pt` and `experts/<name>/model.pt` (what `load` reads)."""
        save_model(self.gate.module, Path(folder) / "gate" / MODEL_FILE, self.gate.metadata)
        for name, member in self.experts.items():
            save_model(member.module, Path(folder) / "experts" / name / MODEL_FILE, member.metadata)
        return Path(folder)

    @classmethod
    def load(cls, folder: Path) -> MoESystem:
        """Read a system written by `save`."""
        folder = Path(folder)
        return cls.from_folders(
            folder / "gate", sorted(p for p in (folder / "experts").iterdir() if p.is_dir())
        )

    def route(self, x: np.ndarray, words: np.ndarray | None = None) -> np.ndarray:
        """Gate probabilities (N, E), zero for experts that are not loaded and renormalised over the rest.

        Args:
            x: (N, 384) the inputs' embeddings; words: (N, 384) their words' (None: each is its own word).
        """
        probs = self.gate.probabilities(x if words is None else np.concatenate([x, words], axis=1))  # (N, E)
        loaded = np.array([name in self.experts for name in self.expert_names])  # (E,)
        probs = probs * loaded
        return probs / probs.sum(axis=1, keepdims=True)

    def predict(
        self, inputs: Sequence[str] | np.ndarray, top_k: int = 1, words: np.ndarray | None = None
    ) -> Prediction:
        """Route each input (a text, or its 384-dim embedding with, optionally, its word's in `words`) and
        classify it with its expert(s)."""
        if top_k not in (1, 2):
            raise InvalidInput(f"top_k={top_k}; use 1 (first choice) or 2 (mix the first two).")
        x = self.embed(inputs)
        if words is None and not isinstance(inputs, np.ndarray):
            words = self.embed_words([str(t) for t in inputs], x)
        probs = self.route(x, None if words is None else self.embed(words))  # (N, E)
        k = min(top_k, len(self.experts))
        ranked = np.argsort(-probs, axis=1, kind="stable")[:, :k]  # (N, k) expert indices, best first
        weight = np.take_along_axis(probs, ranked, axis=1)  # (N, k)
        mixed = self.mix(
            x, torch.as_tensor(ranked), torch.as_tensor(weight / weight.sum(axis=1, keepdims=True))
        )
        best = mixed.argmax(axis=1)  # (N,)
        names = np.asarray(self.expert_names, dtype=object)
        return Prediction(
            expert=names[ranked[:, 0]].tolist(),
            experts=[tuple(row) for row in names[ranked].tolist()],
            probabilities=probs,
            fine_class=np.asarray(self.classes, dtype=object)[best].tolist(),
            fine_probability=mixed[np.arange(len(x)), best],
        )

    @torch.no_grad()
    def mix(self, x: np.ndarray, ranked: torch.Tensor, weight: torch.Tensor) -> np.ndarray:
        """(N, C) class probabilities over `classes`: each row's experts `ranked` (N, k), summed by `weight`."""
        n, k = ranked.shape
        rows = torch.arange(n).repeat_interleave(k)  # (N*k,) the row of each (row, expert) assignment
        experts = ranked.reshape(-1)  # (N*k,) gate indices
        probs = self.expert_probabilities(torch.as_tensor(x)[rows], experts)  # (N*k, C_max)
        contribution = (probs * weight.reshape(-1, 1).to(probs.dtype)).view(n, -1)  # (N, k*C_max)
        mixed = torch.zeros(n, len(self.classes), dtype=probs.dtype)  # (N, C)
        return mixed.scatter_add_(1, self.columns[experts].view(n, -1), contribution).numpy()

    def expert_probabilities(self, x: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
        """(A, C_max) softmax of expert experts[a] on row x[a]; columns past an expert's classes hold 0."""
        if self.stack is not None:
            return self.stack(x, self.stack_group[experts]).softmax(dim=-1)  # one pass for every expert
        probs = torch.zeros(len(x), self.columns.shape[1])
        for e in experts.unique().tolist():  # experts of different shapes: one pass each
            chosen = experts == e
            member = self.experts[self.expert_names[e]]
            probs[chosen, : len(member.classes)] = member.module(x[chosen]).logits.softmax(dim=-1)
        return probs

    @staticmethod
    def embed_words(texts: Sequence[str], x: np.ndarray) -> np.ndarray:
        """(N, 384) the embedding of each text's word (`word_of`): encoded where it is a quoted word, else `x`'s."""
        words = x.copy()
        asked = [i for i, text in enumerate(texts) if quoted_word(text) is not None]
        if asked:
            words[asked] = encode_texts([quoted_word(texts[i]) for i in asked])
        return words

    @staticmethod
    def embed(inputs: Sequence[str] | np.ndarray) -> np.ndarray:
        """(N, 384) float32 embeddings of texts, or the given embeddings checked."""
        if isinstance(inputs, np.ndarray):
            x = inputs.astype(np.float32, copy=False)
        else:
            x = encode_texts([str(t) for t in inputs])
        if x.ndim != 2 or x.shape[1] != EMBED_DIM:
            raise InvalidInput(f"Expected texts or embeddings of shape (N, {EMBED_DIM}), got {x.shape}.")
        return x
