"""The networks of the mixture of experts: the domain gate, the per-domain experts and a dense baseline.

All three map a frozen sentence embedding (N, d_in) to logits and return a `ModelOutput` that also carries
the auxiliary loss to add during training. They are plain `nn.Module`s configured by frozen dataclasses;
`lightning.py` trains them and `save_model` / `load_model` move them to serving without Lightning.

Active parameters per input (P below; biases only where written):
    ExpertNet:     d_in*d + d  +  n_layers * (2d [LayerNorm] + d*E [router] + k * 2*d*h [k experts])
                   + 2d [final LayerNorm] + d*C + C [head]
    DenseBaseline: the same, with one bias-free FFN of width h' in place of router + k experts: 2*d*h'.
Equal when 2*d*h' = d*E + 2*k*d*h, i.e. h' = k*h + E/2: exact for even E; for odd E the baseline has
d_model fewer per layer (`DenseConfig.matching`). The dense baseline that experts are upcycled from
(`DenseConfig.upcycling_source`) has h' = h instead, so that each expert's FFN is a copy of its FFN: a top-1
expert path then has the router's n_layers * d*E parameters more than it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aiprime.errors import DataCorrupt, InvalidInput, NotFound
from aiprime.moe.layers import MoEAux, MoEConfig, SwitchMoE, balance_loss

EMBED_DIM = 384  # width of all-MiniLM-L6-v2 sentence embeddings
FORMAT_VERSION = 1  # of the files `save_model` writes


@dataclass(frozen=True)
class ModelOutput:
    """Logits plus what training adds to the task loss."""

    logits: Tensor  # (N, C) class (or domain) logits
    aux_loss: Tensor  # () auxiliary loss: balance (+ z) losses; zero for the dense baseline
    moe: tuple[MoEAux, ...] = ()  # per SwitchMoE layer, its report


@dataclass(frozen=True)
class GateConfig:
    """Shape of the request-level gate that picks a domain expert."""

    d_in: int = EMBED_DIM  # width of each input embedding
    # Embeddings side by side (`gate_input`): 2 = the text's and its word's (the quoted word of a sense
    # question, a gloss's lemma; a text without one is its own word); 1 = the text's alone (gates before it)
    n_inputs: int = 1
    d_hidden: int = 256  # hidden width of the gate MLP; 0 = one linear layer
    n_domains: int = 6  # D: domains, one expert each, in registry order
    dropout: float = 0.1  # dropout on the hidden layer (or on the input, for a linear gate)
    balance_alpha: float = 1e-2  # weight of the balance loss on the softmax over domains

    @property
    def width(self) -> int:
        """Width of the gate's input row: n_inputs embeddings of d_in."""
        return self.d_in * self.n_inputs


@dataclass(frozen=True)
class ExpertConfig:
    """Shape of one domain expert: a residual stack of SwitchMoE layers and a fine-class head."""

    d_in: int = EMBED_DIM  # input embedding width
    n_classes: int = 8  # C: fine classes of the domain
    n_layers: int = 2  # residual SwitchMoE blocks
    moe: MoEConfig = field(default_factory=MoEConfig)  # every block's layer; moe.d_model is the stream width


@dataclass(frozen=True)
class DenseConfig:
    """Shape of the dense baseline: ExpertNet with a plain FFN in place of each SwitchMoE."""

    d_in: int = EMBED_DIM  # input embedding width
    n_classes: int = 8  # C: classes
    n_layers: int = 2  # residual FFN blocks
    d_model: int = 64  # width of the residual stream
    d_hidden: int = 130  # hidden width of each FFN (130 = matching(ExpertConfig()).d_hidden)
    dropout: float = 0.0  # dropout on the FFN hidden activations

    @classmethod
    def matching(cls, expert: ExpertConfig) -> DenseConfig:
        """The dense config with the active parameters per input of `expert` (see the module docstring)."""
        m = expert.moe
        return replace(cls.upcycling_source(expert), d_hidden=m.top_k * m.d_hidden + m.n_experts // 2)

    @classmethod
    def upcycling_source(cls, expert: ExpertConfig) -> DenseConfig:
        """The dense config whose FFN has the shape of each of `expert`'s SwitchMoE experts (upcycling copies it)."""
        m = expert.moe
        return cls(
            d_in=expert.d_in,
            n_classes=expert.n_classes,
            n_layers=expert.n_layers,
            d_model=m.d_model,
            d_hidden=m.d_hidden,
            dropout=m.dropout,
        )


class GateNet(nn.Module):
    """Embeddings -> domain logits; routes a whole request to one domain expert."""

    def __init__(self, config: GateConfig) -> None:
        super().__init__()
        self.config = config
        if config.d_hidden:
            layers = [nn.Linear(config.width, config.d_hidden), nn.GELU(), nn.Dropout(config.dropout)]
            layers.append(nn.Linear(config.d_hidden, config.n_domains))
        else:
            layers = [nn.Dropout(config.dropout), nn.Linear(config.width, config.n_domains)]
        self.net = nn.Sequential(*layers)

    def inputs(self, x: Tensor) -> Tensor:
        """The gate's input rows: `x` (N, width), or (N, d_in) text embeddings, each then its own word's."""
        if x.shape[-1] == self.config.d_in and self.config.n_inputs > 1:
            return x.repeat(1, self.config.n_inputs)  # (N, width): a text without a word is its own word
        assert x.shape[-1] == self.config.width, (
            f"gate input {tuple(x.shape)}, expected (N, {self.config.width})"
        )
        return x

    def forward(self, x: Tensor) -> ModelOutput:
        """Domain logits and the balance loss over the batch's domain choices."""
        logits = self.net(self.inputs(x))  # (N, D) domain logits
        probs = logits.softmax(dim=-1)  # (N, D)
        choices = probs.argmax(dim=-1, keepdim=True)  # (N, 1)
        return ModelOutput(logits, balance_loss(probs, choices, self.config.balance_alpha))

    @torch.no_grad()
    def route(self, x: Tensor) -> Tensor:
        """Index of the domain expert for each input: (N, width) or (N, d_in) -> (N,) long."""
        return self.net(self.inputs(x)).argmax(dim=-1)


class MoEBlock(nn.Module):
    """Pre-norm residual block x + SwitchMoE(LayerNorm(x)); a dropped token passes through unchanged."""

    def __init__(self, config: MoEConfig) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(config.d_model)
        self.moe = SwitchMoE(config)

    def forward(self, x: Tensor) -> tuple[Tensor, MoEAux]:
        """(N, d_model) -> (N, d_model) plus the layer's report."""
        y, aux = self.moe(self.ln(x))  # (N, d_model)
        return x + y, aux


class ExpertNet(nn.Module):
    """Embedding -> fine-class logits of one domain, through residual SwitchMoE blocks."""

    def __init__(self, config: ExpertConfig) -> None:
        super().__init__()
        self.config = config
        d = config.moe.d_model
        self.proj = nn.Linear(config.d_in, d)
        self.blocks = nn.ModuleList(MoEBlock(config.moe) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.n_classes)

    def forward(self, x: Tensor) -> ModelOutput:
        """Class logits, the summed auxiliary losses and each layer's report."""
        h = self.proj(x)  # (N, d_model)
        reports = []
        for block in self.blocks:
            h, aux = block(h)  # (N, d_model)
            reports.append(aux)
        logits = self.head(self.ln_f(h))  # (N, C)
        aux_loss = sum((r.loss for r in reports), start=logits.new_zeros(()))
        return ModelOutput(logits, aux_loss, tuple(reports))


class FFNBlock(nn.Module):
    """Pre-norm residual block x + W2 gelu(W1 LayerNorm(x)), bias-free like the experts."""

    def __init__(self, d_model: int, d_hidden: int, dropout: float) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, d_hidden, bias=False)
        self.out = nn.Linear(d_hidden, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(N, d_model) -> (N, d_model)."""
        return x + self.out(self.dropout(F.gelu(self.fc(self.ln(x)))))


class DenseBaseline(nn.Module):
    """ExpertNet's architecture with dense FFN blocks: the same active parameters, no routing."""

    def __init__(self, config: DenseConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.proj = nn.Linear(config.d_in, d)
        self.blocks = nn.Sequential(
            *(FFNBlock(d, config.d_hidden, config.dropout) for _ in range(config.n_layers))
        )
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.n_classes)

    def forward(self, x: Tensor) -> ModelOutput:
        """Class logits and a zero auxiliary loss."""
        logits = self.head(self.ln_f(self.blocks(self.proj(x))))  # (N, C)
        return ModelOutput(logits, logits.new_zeros(()))


MODELS: dict[type, type[nn.Module]] = {
    GateConfig: GateNet,
    ExpertConfig: ExpertNet,
    DenseConfig: DenseBaseline,
}


def build_model(config: GateConfig | ExpertConfig | DenseConfig) -> nn.Module:
    """The untrained network that `config` describes."""
    if type(config) not in MODELS:
        raise InvalidInput(
            f"No model for config {type(config).__name__}; use one of {[c.__name__ for c in MODELS]}."
        )
    return MODELS[type(config)](config)


def n_outputs(config: GateConfig | ExpertConfig | DenseConfig) -> int:
    """Width of the logits of the network that `config` describes."""
    return config.n_domains if isinstance(config, GateConfig) else config.n_classes


def active_parameters(module: nn.Module) -> int:
    """Parameters used to process one input: all, less the (E - k) / E share of every SwitchMoE's experts."""
    total = sum(p.numel() for p in module.parameters())
    for layer in module.modules():
        if isinstance(layer, SwitchMoE):
            e, k = layer.config.n_experts, layer.config.top_k
            total -= layer.expert_parameters() * (e - k) // e
    return total


def save_model(module: nn.Module, path: Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write a model as a plain dict (config, state_dict, metadata) that `load_model` reads without Lightning.

    Args:
        module: a GateNet, ExpertNet or DenseBaseline.
        path: the file to write (parents are created).
        metadata: JSON-like extras, e.g. the class labels in logit order.
    """
    payload = {
        "format": FORMAT_VERSION,
        "kind": type(module.config).__name__,
        "config": asdict(module.config),
        "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def read_payload(path: Path) -> dict[str, Any]:
    """The dict that `save_model` wrote, loaded with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"Model file not found: {path}. Train one with aiprime.moe.lightning.fit first.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a bad file
        raise DataCorrupt(f"Cannot read model file {path}: {e}. Re-save it with save_model.") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise DataCorrupt(f"{path} is not a format-{FORMAT_VERSION} model file. Re-save it with save_model.")
    return payload


def load_model(path: Path) -> nn.Module:
    """The plain module saved by `save_model`, in eval mode."""
    payload = read_payload(path)
    configs = {cls.__name__: cls for cls in MODELS}
    if payload["kind"] not in configs:
        raise DataCorrupt(
            f"{path} holds an unknown model kind {payload['kind']!r}; expected one of {list(configs)}."
        )
    module = build_model(config_from_dict(configs[payload["kind"]], payload["config"]))
    module.load_state_dict(payload["state_dict"])
    return module.eval()


def load_metadata(path: Path) -> dict[str, Any]:
    """The metadata saved with a model."""
    return read_payload(path)["metadata"]


def config_from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a (possibly nested) frozen config dataclass from `dataclasses.asdict` output."""
    kwargs = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        default = f.default_factory() if callable(f.default_factory) else f.default
        nested = is_dataclass(default) and isinstance(values[f.name], dict)
        kwargs[f.name] = config_from_dict(type(default), values[f.name]) if nested else values[f.name]
    return cls(**kwargs)
