"""The expert registry: the one place where the mixture's experts are declared.

Each `ExpertSpec` names one expert, the domain it serves, the kind of input it takes (`modality`) and how it
is deployed (`serving`); the gate's outputs are the domains in registry order. To add an expert, append a
spec to `EXPERTS` and run `make generate`, which rewrites every deployment file that lists experts
(`aiprime.deploy.generate`). Nothing else about the other experts changes: their configs, their
fingerprints and their initial weights (seeded from their own names) stay the same, so `plan_training`
against the fingerprints of the last run asks only for the gate and the new expert.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Literal

import torch

from aiprime.errors import ConfigError, InvalidInput
from aiprime.moe.layers import MoEConfig
from aiprime.moe.networks import ExpertConfig, ExpertNet, GateConfig

GATE = "gate"  # key of the gate in a manifest of fingerprints


class Modality(StrEnum):
    """The kind of input an expert takes; each kind is served by its own model server."""

    TEXT = "text"  # sentence embeddings of the request's texts (kserve/expert)
    IMAGE = "image"
    AUDIO = "audio"


#: The model server (a folder kserve/<server>/) that serves each modality by default.
SERVERS: Mapping[Modality, str] = {Modality.TEXT: "expert"}


@dataclass(frozen=True)
class ServingSpec:
    """How an expert is deployed (InferenceService size and scaling); it does not change training."""

    server: str = ""  # kserve/<server>/ that loads it; "" = SERVERS[modality]
    min_replicas: int = 1  # the HPA's floor
    max_replicas: int = 4  # the HPA's ceiling, scaled on CPU
    cpu: tuple[str, str] = ("500m", "2")  # (request, limit) per pod
    memory: tuple[str, str] = ("1Gi", "2Gi")  # (request, limit) per pod


@dataclass(frozen=True)
class Upcycling:
    """How an upcycled expert is fine-tuned from the dense baseline's weights on its domain."""

    other_share: float = 0.25  # rows of other domains mixed into its train rows, per row of its own domain
    lr_scale: float = 0.3  # fine-tuning peak lr = the run's lr times this (the dense start needs small steps)
    patience: int = 2  # epochs without a lower val loss before stopping: the dense start peaks within a few


@dataclass(frozen=True)
class ExpertSpec:
    """One domain expert: its name, the domain the gate routes to it, its input, architecture and serving."""

    name: str  # unique id: artifact and route names derive from it
    domain: str  # the gate class whose requests this expert answers
    n_layers: int = 2  # residual SwitchMoE blocks
    moe: MoEConfig = field(  # every block's layer
        default_factory=lambda: MoEConfig(d_model=128, d_hidden=256, n_experts=4, top_k=1, dropout=0.1)
    )
    modality: Modality = Modality.TEXT  # the input it takes; picks its model server
    # "upcycle": start from the trained dense baseline (every SwitchMoE expert a copy of its FFN, a fresh
    # router) over all 45 classes, then fine-tune on the domain; "scratch": random init, the domain's classes
    init: Literal["upcycle", "scratch"] = "upcycle"
    upcycling: Upcycling = field(default_factory=Upcycling)  # fine-tuning settings when init == "upcycle"
    serving: ServingSpec = field(default_factory=ServingSpec)  # deployment only: not fingerprinted

    @property
    def server(self) -> str:
        """The model server folder (kserve/<server>/) that serves this expert."""
        if self.serving.server:
            return self.serving.server
        if self.modality not in SERVERS:
            raise ConfigError(
                f"Expert {self.name!r} takes {self.modality.value} input, which no model server serves; set "
                f"its serving=ServingSpec(server=...) or add the modality to SERVERS in aiprime/moe/experts.py."
            )
        return SERVERS[self.modality]

    @property
    def upcycled(self) -> bool:
        """Whether this expert starts from the dense baseline's weights."""
        return self.init == "upcycle"

    def config(self, n_classes: int) -> ExpertConfig:
        """The network config, once the data says how many classes it answers (an upcycled one: all)."""
        return ExpertConfig(n_classes=n_classes, n_layers=self.n_layers, moe=self.moe)

    def classes(self, fine: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
        """Its classes in logit order: every domain's lexnames when upcycled (the dense baseline's), else its own."""
        if self.upcycled:
            return tuple(sorted({c for lexnames in fine.values() for c in lexnames}))
        return tuple(fine.get(self.domain, ()))

    def fingerprint(self, classes: Sequence[str], dense: str = "") -> str:
        """Hash of everything that decides this expert's training: the spec, its classes and, when upcycled,
        the fingerprint `dense` of the dense model it starts from."""
        spec = asdict(self)
        del spec["serving"]  # replicas and sizes do not change what is trained
        if self.modality is Modality.TEXT:
            del spec["modality"]  # text experts keep the fingerprints they had before modalities existed
        described = {"spec": spec, "classes": list(classes)}
        if self.upcycled:
            described["dense"] = dense
        else:
            del spec["upcycling"]
        text = json.dumps(described, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


EXPERTS: tuple[ExpertSpec, ...] = (
    ExpertSpec("living", domain="living"),
    ExpertSpec("artifacts", domain="artifacts"),
    ExpertSpec("people_society", domain="people_society"),
    ExpertSpec("abstractions", domain="abstractions"),
    ExpertSpec("actions", domain="actions"),
    ExpertSpec("qualities", domain="qualities"),
)


@dataclass(frozen=True)
class TrainingPlan:
    """What a training run must (re)train, given the fingerprints of the last run."""

    gate: bool  # the gate: its classes (the domains, in order) changed
    train: tuple[str, ...]  # experts that are new or changed
    keep: tuple[str, ...]  # experts whose trained weights stay valid


def check_registry(specs: Sequence[ExpertSpec] = EXPERTS) -> None:
    """Raise ConfigError unless names are unique and there is exactly one expert per domain."""
    names = [s.name for s in specs]
    domains = [s.domain for s in specs]
    if not specs or len(set(names)) < len(names) or len(set(domains)) < len(domains):
        raise ConfigError(
            f"The expert registry needs unique names and one expert per domain; got names {names} and "
            f"domains {domains}. Fix EXPERTS in aiprime/moe/experts.py."
        )


def domains(specs: Sequence[ExpertSpec] = EXPERTS) -> tuple[str, ...]:
    """The gate's classes: the domains in registry order."""
    check_registry(specs)
    return tuple(s.domain for s in specs)


#: The gate's shape: the text's and its word's embeddings side by side, an MLP of width 256 to the domains
#: (198,406 parameters, 1.06x the dense model's 186,925 active ones). Width 16 (12,406; gate + one expert path
#: 1.07x dense) was tried: on the full data its `make run` scored the gate 0.8353 on test glosses and the
#: system 0.7516 top-1, below dense's 0.7603, so the width is back to the last measured good one (the width-256
#: text-only gate: 0.876 and system 0.7734). `bench/gate_calibration.py --hidden` compares widths.
GATE_SHAPE: Mapping[str, int] = {"n_inputs": 2, "d_hidden": 256}


def gate_config(specs: Sequence[ExpertSpec] = EXPERTS, **overrides: object) -> GateConfig:
    """The gate's config: one output per registered domain, of `GATE_SHAPE` unless `overrides` say otherwise."""
    return GateConfig(n_domains=len(domains(specs)), **{**GATE_SHAPE, **overrides})


def gate_fingerprint(specs: Sequence[ExpertSpec] = EXPERTS) -> str:
    """Hash of the gate's classes and shape; it changes when an expert is added, removed or moved, or when the
    gate's input or size changes."""
    described = {"domains": domains(specs), "config": asdict(gate_config(specs))}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def expert_seed(spec: ExpertSpec, seed: int) -> int:
    """A seed for this expert alone: independent of the other specs and of its place in the registry."""
    digest = hashlib.sha256(f"{seed}:{spec.name}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def build_expert(spec: ExpertSpec, n_classes: int, seed: int) -> ExpertNet:
    """An untrained expert whose initial weights depend only on its own spec, class count and `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(expert_seed(spec, seed))
        return ExpertNet(spec.config(n_classes))


def manifest(
    specs: Sequence[ExpertSpec], classes: Mapping[str, Sequence[str]], dense: str = ""
) -> dict[str, str]:
    """Fingerprints to store after a training run: the gate's and each expert's, by name.

    Args:
        classes: each domain's fine classes.
        dense: the fingerprint of the dense model that upcycled experts start from.
    """
    missing = [s.domain for s in specs if s.domain not in classes]
    if missing:
        raise InvalidInput(
            f"No fine classes given for domains {missing}; pass classes for every spec's domain."
        )
    experts = {s.name: s.fingerprint(s.classes(classes), dense) for s in specs}
    return {GATE: gate_fingerprint(specs)} | experts


def plan_training(
    specs: Sequence[ExpertSpec],
    classes: Mapping[str, Sequence[str]],
    trained: Mapping[str, str],
    dense: str = "",
) -> TrainingPlan:
    """Which models to train now, comparing the registry with the manifest `trained` of the last run.

    An upcycled expert is retrained when the dense model it starts from (fingerprint `dense`) changes.
    """
    wanted = manifest(specs, classes, dense)
    changed = tuple(s.name for s in specs if trained.get(s.name) != wanted[s.name])
    return TrainingPlan(
        gate=trained.get(GATE) != wanted[GATE],
        train=changed,
        keep=tuple(s.name for s in specs if s.name not in changed),
    )
