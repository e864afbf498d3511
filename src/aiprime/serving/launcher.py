"""Start and stop the local serving stack: the gate, one server per expert, the combiner and the router;
with `rag`, also the retriever and the generator of the RAG graph (`kserve/graphs/rag.yaml`).

Each is its own process in its own session (so a terminal's Ctrl-C reaches only `aiprime serve`, which then
stops them in order), bound to `host`, with a pid file, a log and (with `trace=True`) a span file under
`<AIPRIME_HOME>/serving/`; with `trace`, the spans also go over OTLP to AIPRIME_OTLP_ENDPOINT, or else to
the MLflow server when it answers (`aiprime.observability.export`). The services mapping the router reads
is written there too, and `stack.json` records the endpoints, so `aiprime ask` and `aiprime serve stop`
find a stack started with `--detach`.

Model servers run as `python kserve/<role> ...` (the same command as the InferenceServices in
`kustomize/base/inference/`, where the folder is `/app/kserve/<role>`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from aiprime.errors import ConfigError, ServiceUnavailable
from aiprime.observability.export import mlflow_target, otlp_environment
from aiprime.services.processes import (
    kill_process,
    read_pid,
    require_free_port,
    start_detached,
    stop_process,
)
from aiprime.services.supervise import GRACE_S, StopRequested, stop_signals
from aiprime.serving.graph import load_graph
from aiprime.serving.media_models import MEDIA_SERVERS
from aiprime.serving.names import domain_of, service_name
from aiprime.settings import Settings

RAG_GRAPH = Path("kserve/graphs/rag.yaml")  # the graph that `aiprime serve --rag` runs unless told otherwise
RAG_SERVICES = ("retriever", "generator")  # started only with ServeOptions.rag
MEDIA_GRAPHS = {False: Path("kserve/graphs/multimodal.yaml"), True: Path("kserve/graphs/rag-multimodal.yaml")}
REQUEST_HEADERS = "X-Request-Id"  # forwarded to every step, so each server logs the request it served
# A v2 binary body is the JSON header's length in this header plus raw bytes: the router must forward it
MEDIA_HEADERS = "Inference-Header-Content-Length,Content-Type"
STATE_FILE = "stack.json"
SERVICES_FILE = "services.yaml"
ROUTER = "router"
GATEWAY = "gateway"  # in front of the router with ServeOptions.gateway: the console, tokens, RBAC, audit
FRONT = (GATEWAY, ROUTER)  # stopped first, so that no new request reaches a stopping model server


@dataclass(frozen=True)
class ServeOptions:
    """What `aiprime serve` starts, and how."""

    graph: Path = Path("kserve/graphs/top1.yaml")  # the InferenceGraph the router runs (RAG_GRAPH for rag)
    kserve_dir: Path = Path("kserve")  # the folder holding gate/, expert/, combiner/, retriever/, generator/
    router_port: int = 8080  # 0: a free port
    base_port: int = 0  # gate on base_port, experts and combiner on the next ports; 0: free ports
    model_dir: Path | None = None  # holds gate/, expert-<name>/ with model.pt (and reranker/); None: MLflow
    tracking_uri: str | None = None  # MLflow; None: the settings' URL
    alias: str = "champion"  # the registry alias served
    load_aware: bool = False  # the gate passes over unready or full experts
    max_in_flight: int = 0  # each expert's limit before it answers 503 (0: none)
    trace: bool = False  # spans to traces/<name>.jsonl, and over OTLP (see the module's docstring)
    timeout_s: float = 600.0  # how long every server has to become ready
    rag: bool = False  # also the retriever (needs an ingested collection) and the generator (needs its gguf)
    collection: str | None = None  # the collection the retriever searches; None: AIPRIME_RAG_COLLECTION
    gateway: bool = False  # also `aiprime gateway` in front of the router (predict, ask, the gate's explain)
    gateway_port: int = 0  # its port; 0: a free one
    media: bool = False  # also the modality step and the image expert (graph: MEDIA_GRAPHS[rag])


@dataclass(frozen=True)
class Server:
    """One process of the stack."""

    name: str  # serviceName (`gate`, `expert-living`, `combiner`) or `router`
    port: int  # its HTTP port
    argv: tuple[str, ...]  # the command
    url: str  # where clients call it: a v1 predict URL, or the router's root
    ready_url: str  # answers 200 once it serves
    env: dict[str, str] = field(default_factory=dict)  # set for this process on top of the stack's own


@dataclass(frozen=True)
class Stack:
    """A running stack, as `stack.json` records it."""

    router_url: str  # POST the graph's requests here
    services_file: str  # the serviceName -> URL mapping
    graph: str  # the graph served
    servers: dict[str, str] = field(default_factory=dict)  # name -> URL
    state_dir: str = ""  # pid files, logs, traces

    def services(self) -> dict[str, str]:
        """serviceName -> predict URL (the router and the gateway left out)."""
        return {name: url for name, url in self.servers.items() if name not in FRONT}

    @property
    def gateway_url(self) -> str | None:
        """The gateway's root URL when the stack runs one."""
        return self.servers.get(GATEWAY)


def default_graph(rag: bool, media: bool) -> Path:
    """The graph `aiprime serve` runs unless told: top-1, RAG, or their multimodal forms."""
    if media:
        return MEDIA_GRAPHS[rag]
    return RAG_GRAPH if rag else ServeOptions.graph


def state_dir(settings: Settings) -> Path:
    """Where the stack keeps its state: `<AIPRIME_HOME>/serving`."""
    return settings.home / "serving"


def plan(options: ServeOptions, settings: Settings) -> list[Server]:
    """The processes to start, model servers first and the router last.

    Raises:
        ConfigError: the graph is invalid or calls a service the stack does not run.
    """
    from aiprime.moe.experts import domains  # the expert registry (imports torch): only when starting

    names = ["gate", *(service_name("expert", d) for d in domains()), "combiner"]
    names += list(RAG_SERVICES) if options.rag else []
    names += list(MEDIA_SERVERS) if options.media else []
    ports = iter(_ports(settings.host, options.base_port, len(names) + 1))
    models = [_model_server(name, next(ports), options, settings) for name in names]
    _check_graph(options.graph, {m.name for m in models})
    port = options.router_port or next(ports)
    servers = [*models, _router(port, options, settings)]
    if options.gateway:
        servers.append(_gateway(options.gateway_port or _ports(settings.host, 0, 1)[0], servers, settings))
    return servers


def start(options: ServeOptions, settings: Settings) -> Stack:
    """Start every server, wait until each is ready, and record the stack; stop them all if one fails.

    Raises:
        ServiceUnavailable: a stack runs already, a port is taken, or a server failed to start (quoting its log).
    """
    if running(settings) is not None:
        raise ServiceUnavailable(
            "A serving stack is already running; stop it with `aiprime serve stop` first."
        )
    servers = plan(options, settings)
    models = [s for s in servers if s.name not in FRONT]
    router = next(s for s in servers if s.name == ROUTER)
    require_free_port(settings.host, router.port, "the InferenceGraph router", "--port")
    folder = state_dir(settings)
    _write_services(folder / SERVICES_FILE, models)
    env = otlp_environment(mlflow_target(settings)) if options.trace else {}
    try:
        _launch(models, folder, options.timeout_s, env)
        _launch([router], folder, options.timeout_s, env)  # the router validates the mapping on start
        _launch([s for s in servers if s.name == GATEWAY], folder, options.timeout_s, env)
    except BaseException:
        stop(settings)
        raise
    stack = Stack(router.url, str(folder / SERVICES_FILE), str(options.graph),
                  {s.name: s.url for s in servers}, str(folder))  # fmt: skip
    (folder / STATE_FILE).write_text(json.dumps(asdict(stack), indent=2))
    return stack


def stop(settings: Settings) -> list[str]:
    """Stop the stack's processes (gateway and router first), within GRACE_S; the names of those that ran."""
    folder = state_dir(settings)
    pid_files = sorted((folder / "run").glob("*.pid"))
    stopped = _stop_all([p for p in pid_files if p.stem in FRONT])  # first: no new requests
    stopped += _stop_all([p for p in pid_files if p.stem not in FRONT])
    (folder / STATE_FILE).unlink(missing_ok=True)
    return stopped


def _stop_all(pid_files: list[Path]) -> list[str]:
    """Stop these processes in parallel (each takes seconds to drain); the names of those that ran."""
    with ThreadPoolExecutor(max_workers=max(1, len(pid_files))) as pool:
        ran = list(pool.map(lambda pid_file: stop_process(pid_file, GRACE_S / 2), pid_files))
    return [p.stem for p, was in zip(pid_files, ran, strict=True) if was]


def running(settings: Settings) -> Stack | None:
    """The recorded stack if its router still runs, else None."""
    folder = state_dir(settings)
    if not (folder / STATE_FILE).is_file() or read_pid(folder / "run" / f"{ROUTER}.pid") is None:
        return None
    return Stack(**json.loads((folder / STATE_FILE).read_text()))


def dead(settings: Settings) -> list[str]:
    """Servers of the stack whose process has exited."""
    folder = state_dir(settings)
    stack = running(settings)
    names = list(stack.servers) if stack else []
    return [name for name in names if read_pid(folder / "run" / f"{name}.pid") is None]


def _ports(host: str, base: int, count: int) -> list[int]:
    if base:
        return list(range(base, base + count))
    ports: set[int] = set()
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind((host, 0))  # the kernel picks a free port
            ports.add(sock.getsockname()[1])
    return sorted(ports)


def _model_server(name: str, port: int, options: ServeOptions, settings: Settings) -> Server:
    role = MEDIA_SERVERS.get(name) or name.split("-", 1)[0]
    argv = [sys.executable, str(options.kserve_dir / role), "--model_name", name, "--http_port", str(port),
            "--host", settings.host, "--enable_latency_logging", "false", "--log_dir", str(settings.log_dir)]  # fmt: skip
    if role == "expert":
        argv += ["--domain", domain_of(name), "--max_in_flight", str(options.max_in_flight)]
    if role == "gate" and options.load_aware:
        argv += ["--load_aware", "--services", str(state_dir(settings) / SERVICES_FILE)]
    if role in ("gate", "retriever"):  # the gate logs requests there; the retriever searches it
        argv += _database(settings)
    if role == "retriever":
        argv += ["--collection", options.collection or settings.rag_collection]
    if role == "generator":
        argv += ["--llama_threads", str(llama_threads())]
    argv += _model_source(name, role, options, settings)
    if options.trace:
        argv += ["--trace_file", str(state_dir(settings) / "traces" / f"{name}.jsonl")]
    base = f"http://{settings.host}:{port}"
    return Server(
        name, port, tuple(argv), f"{base}/v1/models/{name}:predict", f"{base}/v2/models/{name}/ready"
    )


def llama_threads() -> int:
    """llama.cpp threads for the local generator: a quarter of the cores, at least one.

    The local stack shares the machine with ten other servers, and llama.cpp's threads spin at every
    barrier while one of them waits for a core: on this 2-core machine, with a training run beside it, two
    threads took 91 s for an answer that one thread gives in about 9 s.
    """
    return max(1, (os.cpu_count() or 1) // 4)


def _database(settings: Settings) -> list[str]:
    """The PostgreSQL server, configured or embedded, when one runs: the gate logs every request there (drift
    detection) and the retriever searches its store (without one it stops, saying how to start it)."""
    from aiprime.db.urls import server_url  # the database layer: only when a stack starts

    try:
        return ["--database_url", server_url(settings)]
    except ServiceUnavailable:
        return []


def _model_source(name: str, role: str, options: ServeOptions, settings: Settings) -> list[str]:
    if role in ("combiner", "generator", *MEDIA_SERVERS.values()):  # nothing registered: all in packages
        return []
    if role == "retriever" and options.model_dir is not None:  # a reranker/ folder there, or none at all
        folder = options.model_dir / "reranker"
        return ["--reranker", str(folder) if folder.is_dir() else "none"]
    if options.model_dir is not None:
        return ["--model_dir", str(options.model_dir / name)]
    return ["--tracking_uri", options.tracking_uri or settings.mlflow_url, "--alias", options.alias]


def _router(port: int, options: ServeOptions, settings: Settings) -> Server:
    argv = [_aiprime_command(), ROUTER, "--graph", str(options.graph), "--services",
            str(state_dir(settings) / SERVICES_FILE), "--host", settings.host, "--port", str(port),
            "--log-dir", str(settings.log_dir)]  # fmt: skip
    if options.trace:
        argv += ["--trace-file", str(state_dir(settings) / "traces" / f"{ROUTER}.jsonl")]
    base = f"http://{settings.host}:{port}"
    env = {"PROPAGATE_HEADERS": f"{REQUEST_HEADERS},{MEDIA_HEADERS}" if options.media else REQUEST_HEADERS}
    return Server(ROUTER, port, tuple(argv), f"{base}/", f"{base}/readyz", env)


def _gateway(port: int, servers: list[Server], settings: Settings) -> Server:
    """`aiprime gateway` forwarding predict and ask to the router, explain to the gate's `:explain` and, with
    the retriever, search to it (the agents' search and lookups)."""
    urls = {s.name: s.url for s in servers}
    explain = urls["gate"].replace(":predict", ":explain")
    argv = [_aiprime_command(), GATEWAY, "--upstream", urls[ROUTER], "--host", settings.host, "--port", str(port),
            "--ask-url", urls[ROUTER], "--explain-url", explain]  # fmt: skip
    if "retriever" in urls:
        argv += ["--search-url", urls["retriever"]]
    base = f"http://{settings.host}:{port}"
    return Server(GATEWAY, port, tuple(argv), f"{base}/", f"{base}/readyz", _settings_environment(settings))


def _settings_environment(settings: Settings) -> dict[str, str]:
    """The variables that point a child `aiprime` at the same state and database as `settings`."""
    given = {"DATABASE_URL": settings.database_url, "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}
    env = {"AIPRIME_HOME": str(settings.home), "AIPRIME_HOST": settings.host}
    return env | {f"AIPRIME_{name}": value for name, value in given.items() if value}


def _aiprime_command() -> str:
    beside = Path(sys.executable).with_name("aiprime")
    found = str(beside) if beside.is_file() else shutil.which("aiprime")
    if not found:
        raise ConfigError(
            "The `aiprime` command is not installed beside this Python; run `pip install -e '.[platform]'`."
        )
    return found


def _check_graph(path: Path, services: set[str]) -> None:
    graph = load_graph(path)
    missing = sorted({s.target.service_name for _, s in graph.steps() if s.target.service_name} - services)
    if missing:
        rag = set(missing) & set(RAG_SERVICES)
        hint = " Add --rag to start the retriever and the generator." if rag else ""
        raise ConfigError(
            f"Graph {path} calls {missing}, which `aiprime serve` does not run; it runs {sorted(services)}."
            + hint
        )


def _write_services(path: Path, servers: list[Server]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# serviceName -> URL, written by `aiprime serve` for the router (and the gate's load watcher)"]
    path.write_text("\n".join([*lines, *(f"{s.name}: {s.url}" for s in servers)]) + "\n")


def _launch(servers: list[Server], folder: Path, timeout_s: float, env: dict[str, str]) -> None:
    for server in servers:
        start_detached(
            list(server.argv),
            folder / "run" / f"{server.name}.pid",
            _log(folder, server.name),
            env | server.env,
        )
    deadline = time.monotonic() + timeout_s
    pending = list(servers)
    with httpx.Client(timeout=2.0) as client:
        while pending:
            pending = [s for s in pending if not _ready(client, s, folder)]
            if pending and time.monotonic() > deadline:
                names = [s.name for s in pending]
                raise ServiceUnavailable(
                    f"{names} did not become ready within {timeout_s:.0f} s; see {folder / 'logs'}."
                )
            time.sleep(0.3 if pending else 0)


def _ready(client: httpx.Client, server: Server, folder: Path) -> bool:
    try:
        if client.get(server.ready_url).status_code == 200:
            return True
    except httpx.HTTPError:
        pass
    if read_pid(folder / "run" / f"{server.name}.pid") is None:
        log = _log(folder, server.name)
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
        raise ServiceUnavailable(
            f"{server.name} exited while starting; last log lines: {' | '.join(tail)}. "
            f"Read {log}, fix the cause, and run `aiprime serve` again."
        )
    return False


def _log(folder: Path, name: str) -> Path:
    return folder / "logs" / f"{name}.log"


def run_foreground(options: ServeOptions, settings: Settings, on_started: Callable[[Stack], None]) -> None:
    """Start the stack, call `on_started`, serve until SIGINT/SIGTERM (or a server dies), then stop it all.

    The first signal stops every server cleanly within 10 s; a second one kills them at once.

    Raises:
        ServiceUnavailable: a server failed to start, or exited while serving (naming it and its log).
    """
    with stop_signals(lambda: kill(settings)):
        try:
            on_started(start(options, settings))
            while not (gone := dead(settings)):
                time.sleep(1.0)
            raise ServiceUnavailable(
                f"{gone} exited while serving; see {state_dir(settings) / 'logs'}. "
                "The other servers were stopped."
            )
        except StopRequested:
            pass
        finally:
            stop(settings)


def kill(settings: Settings) -> None:
    """SIGKILL every process of the stack at once (the second Ctrl-C)."""
    for pid_file in (state_dir(settings) / "run").glob("*.pid"):
        kill_process(pid_file)
