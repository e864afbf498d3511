"""`aiprime edge build`: the champion gate and experts with the int8 encoder, as a bundle a device can serve.

`build` writes the bundle into a hidden folder beside `out`: the int8 MiniLM ONNX file (`aiprime.edge.encoder`)
and its tokenizer, each head exported and quantised (`aiprime.edge.export`, calibrated on the val split's int8
embeddings), and `manifest.json` with every file's sha256 and each head's MLflow name and version. It then scores the
bundle, through the edge runtime, against the fp32 champion on the val split (`aiprime.edge.quality`), and
only when the gate passes renames the folder to `out`; a refused or failed build leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from aiprime.edge import distil, encoder, export
from aiprime.edge.distil import Adapted, Paired
from aiprime.edge.encoder import EncoderChoice
from aiprime.edge.export import Quantization
from aiprime.edge.quality import Quality
from aiprime.edge.runtime import FORMAT_VERSION, MANIFEST, EdgeModel, Encoder, sha256_of
from aiprime.errors import ModelNotReady
from aiprime.moe import dataset
from aiprime.moe.fitting import GATE_ROLE, MODEL_FILE, expert_role, fetch_model
from aiprime.moe.networks import load_metadata, load_model
from aiprime.moe.system import MoESystem

CALIBRATION_ROWS = 512  # val rows static quantisation calibrates on
GATE = ""  # the gate's key among the heads by expert name
CHECK_ROWS = 64  # val rows each exported file must reproduce its module on


@dataclass(frozen=True)
class HeadSource:
    """A saved gate or expert and where it was registered."""

    folder: Path  # holds model.pt
    registered: str  # the MLflow registered model, e.g. aiprime-gate ("" for a local folder)
    version: str  # its version ("" for a local folder)


@dataclass(frozen=True)
class Champions:
    """The gate and the experts a bundle is built from."""

    gate: HeadSource
    experts: dict[str, HeadSource]  # by expert name

    @classmethod
    def from_folders(cls, gate: Path, experts: Sequence[Path]) -> Champions:
        """Local model folders, as training writes them (unregistered)."""
        named = {load_metadata(Path(f) / MODEL_FILE)["expert"]: HeadSource(Path(f), "", "") for f in experts}
        return cls(HeadSource(Path(gate), "", ""), named)

    @classmethod
    def from_registry(cls, tracking_uri: str, dst: Path, alias: str = "champion") -> Champions:
        """The gate and experts carrying `alias` in MLflow, downloaded under `dst`; experts without it are left
        out (as `MoESystem.from_registry` does)."""
        gate = fetch_source(tracking_uri, GATE_ROLE, Path(dst) / "gate", alias)
        if gate is None:
            raise ModelNotReady(f"No aiprime-gate carries {alias!r} at {tracking_uri}. Run `aiprime train`.")
        metadata = load_metadata(gate.folder / MODEL_FILE)
        experts = {}
        for name, domain in zip(metadata["experts"], metadata["classes"], strict=True):
            source = fetch_source(tracking_uri, expert_role(domain), Path(dst) / name, alias)
            if source is not None:
                experts[name] = source
        return cls(gate, experts)


def fetch_source(tracking_uri: str, role: str, dst: Path, alias: str) -> HeadSource | None:
    """The version of `role` carrying `alias`, downloaded into `dst`; None when no version carries it."""
    from aiprime.registry import mlflow_registry as registry  # on use: MLflow is slow to import

    name = registry.registered_name(role)
    version = registry.version_for(tracking_uri, name, alias)
    if version is None:
        return None
    return HeadSource(fetch_model(tracking_uri, role, dst, alias), name, version)


@dataclass(frozen=True)
class ValRows:
    """The val split's texts, true lexnames and fp32 (sentence-transformers) embeddings."""

    texts: list[str]
    lexname: np.ndarray  # (N,) str
    x_fp32: np.ndarray  # (N, 384) float32

    @classmethod
    def from_checkout(cls, root: Path, cache_dir: Path, limit: int = 0, split: str = "val") -> ValRows:
        """The `split` rows of the checkout's classification table (at most `limit` per lexname; 0: all)."""
        table, _ = dataset.read_table(root)
        rows = table[table.split == split]
        kept = rows[rows.index.isin(dataset.sample(rows, limit).index)]  # in the split's order, as embed_rows
        return cls(kept.text.tolist(), kept.lexname.to_numpy(str), dataset.embed_rows(rows, kept, cache_dir))


@dataclass(frozen=True)
class Distillation:
    """What the heads are distilled onto the int8 encoder with (`aiprime.edge.distil`)."""

    train: ValRows  # train rows (texts and fp32 embeddings) the heads are fine-tuned on
    cache_dir: Path  # where their int8 embeddings are cached
    config: distil.DistilConfig = field(default_factory=distil.DistilConfig)

    @classmethod
    def from_checkout(cls, root: Path, cache_dir: Path, limit: int = distil.TRAIN_LIMIT) -> Distillation:
        """The checkout's train rows, at most `limit` per lexname (0: all)."""
        return cls(ValRows.from_checkout(root, cache_dir, limit, "train"), Path(cache_dir))


def build(
    out: Path,
    champions: Champions,
    val: ValRows,
    quantization: Quantization = export.DEFAULT_QUANTIZATION,
    calibration: np.ndarray | None = None,
    distillation: Distillation | None = None,
    choice: EncoderChoice = encoder.BLOCKWISE,
) -> dict[str, Any]:
    """Build, check and publish a bundle at `out` (replacing one there); its manifest.

    Args:
        quantization: how the heads are quantised (`aiprime.edge.export`: "weights8", "static", "dynamic"
            or "none").
        calibration: (N, 384) rows to calibrate static quantisation on instead of the val split's.
        distillation: distil each head onto the int8 encoder's embeddings first (None: the champions as
            they are).
        choice: the encoder (`aiprime.edge.encoder`: "blockwise", built here, or "shipped").

    Raises:
        QualityGateFailed: the bundle is worse than the fp32 champion beyond the gate; nothing is published.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        manifest, x_edge = assemble(work, champions, val, quantization, calibration, distillation, choice)
        quality = score(work, champions, val, x_edge)
        manifest["quality"] = quality.as_dict()
        quality.check()
        write_manifest(work, manifest)
        publish(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def assemble(
    work: Path,
    champions: Champions,
    val: ValRows,
    how: Quantization = export.DEFAULT_QUANTIZATION,
    calibration: np.ndarray | None = None,
    distillation: Distillation | None = None,
    choice: EncoderChoice = encoder.BLOCKWISE,
) -> tuple[dict[str, Any], np.ndarray]:
    """Write every file of a bundle and its manifest into `work` (unscored); the manifest and the val rows'
    embeddings by the bundle's encoder (N, 384)."""
    manifest: dict[str, Any] = {"format": FORMAT_VERSION, "built_at": datetime.now(UTC).isoformat()}
    manifest.update(encoder.stage(work, choice))
    edge = Encoder(work / manifest["encoder"]["file"], work / manifest["tokenizer"]["file"], threads=0)
    x_edge = edge.embed(val.texts)  # (N, 384)
    rows = x_edge[:: max(1, len(x_edge) // CALIBRATION_ROWS)] if calibration is None else calibration
    heads = adapted_heads(
        champions, Paired(val.x_fp32, x_edge), edge, distillation, manifest["encoder"]["model"]
    )
    if distillation is not None:
        manifest["distillation"] = {
            "train_rows": len(distillation.train.texts),
            **asdict(distillation.config),
        }
    stage = {"sample": val.x_fp32[:CHECK_ROWS], "calibration": rows, "how": how}
    manifest["gate"] = stage_head(work, "gate.onnx", champions.gate, heads[GATE], **stage)
    manifest["experts"] = {
        name: stage_head(work, f"experts/{name}.onnx", source, heads[name], **stage)
        for name, source in champions.experts.items()
    }
    write_manifest(work, manifest)
    return manifest, x_edge


def adapted_heads(
    champions: Champions, val: Paired, edge: Encoder, distillation: Distillation | None, model: str
) -> dict[str, Adapted | nn.Module]:
    """Each head to export, by expert name (GATE for the gate): the champion's module, or with `distillation`
    its copy distilled on the train rows the fp32 champion routes to it (`aiprime.edge.distil.adapt`), the
    rows embedded by `edge` (the encoder named `model`, the key of their cache)."""
    sources = {GATE: champions.gate, **champions.experts}
    modules = {name: load_model(source.folder / MODEL_FILE) for name, source in sources.items()}
    if distillation is None:
        return modules
    train = distillation.train
    pairs = Paired(
        train.x_fp32, distil.int8_embeddings(train.texts, distillation.cache_dir, edge.embed, model)
    )
    champion = MoESystem.from_folders(champions.gate.folder, [s.folder for s in champions.experts.values()])
    routed = {
        "train": champion.route(pairs.x_fp32).argmax(axis=1),
        "val": champion.route(val.x_fp32).argmax(1),
    }
    adapted = {GATE: distil.adapt(modules[GATE], pairs, val, distillation.config)}
    for name in champions.experts:
        e = champion.expert_names.index(name)
        rows = {split: chosen == e for split, chosen in routed.items()}
        adapted[name] = distil.adapt(
            modules[name], pairs.where(rows["train"]), val.where(rows["val"]), distillation.config
        )
    return adapted


def stage_head(
    work: Path,
    file: str,
    source: HeadSource,
    head: Adapted | nn.Module,
    sample: np.ndarray,
    calibration: np.ndarray,
    how: Quantization,
) -> dict[str, Any]:
    """Export one head (the champion's module, or its distillation) to `work/file`, quantised; its manifest
    entry."""
    target = work / file
    target.parent.mkdir(parents=True, exist_ok=True)
    fp32 = target.with_suffix(".fp32.onnx")
    module = head.module if isinstance(head, Adapted) else head
    batch = export.export_head(module, fp32, sample)
    export.quantize_head(fp32, target, how, calibration, batch)
    fp32.unlink()
    metadata = load_metadata(source.folder / MODEL_FILE)
    entry = {"file": file, "sha256": sha256_of(target), "classes": metadata["classes"], "batch": batch}
    entry.update(registered=source.registered, version=source.version, quantization=how)
    if isinstance(head, Adapted):
        entry["distilled"] = {
            "kept": head.distilled,  # false: the champion's own weights, distillation agreed no better
            "val_agreement_before": head.agreement_before,
            "val_agreement_after": head.agreement_after,
        }
    if "experts" in metadata:
        entry["experts"] = metadata["experts"]
    return entry


def score(work: Path, champions: Champions, val: ValRows, x_edge: np.ndarray) -> Quality:
    """The bundle in `work` (run by the edge runtime) against the fp32 champion on the val rows."""
    fp32 = MoESystem.from_folders(champions.gate.folder, [s.folder for s in champions.experts.values()])
    champion = fp32.predict(val.x_fp32, top_k=1).fine_class
    edge = EdgeModel(work, threads=0).classify(x_edge).label
    return Quality.of(val.lexname, np.asarray(champion), np.asarray(edge))


def write_manifest(work: Path, manifest: dict[str, Any]) -> None:
    """Write `manifest.json` into `work`."""
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def publish(work: Path, out: Path) -> None:
    """Move the checked bundle in `work` to `out`, replacing a previous bundle there."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        shutil.rmtree(old)
    work.rename(out)
