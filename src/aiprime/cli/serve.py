"""`aiprime serve`, `aiprime serve stop|status`, `aiprime router` and `aiprime ask`: the served mixture of experts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from aiprime.cli.render import console
from aiprime.errors import InvalidInput, ServiceUnavailable
from aiprime.settings import Settings

MODES = {  # how the generator answered, as `aiprime ask` says it
    "generated": "generated and checked against the passage it cites",
    "extractive": "the best passage quoted: the model's draft failed the check",
    "abstained": "abstained",
}

app = typer.Typer(help="Serve the gate, the experts and the combiner behind the InferenceGraph router.")


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    graph: Annotated[
        Path | None,
        typer.Option(help="The InferenceGraph the router runs (default: top1.yaml, with --rag rag.yaml)."),
    ] = None,
    port: Annotated[int, typer.Option(help="The router's port (0: a free one).")] = 8080,
    base_port: Annotated[int, typer.Option(help="First port of the model servers (0: free ports).")] = 0,
    models_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of gate/, expert-<name>/ folders holding model.pt (default: the MLflow champions)."
        ),
    ] = None,
    alias: Annotated[str, typer.Option(help="The registry alias to serve.")] = "champion",
    load_aware: Annotated[bool, typer.Option(help="The gate passes over unready or full experts.")] = False,
    max_in_flight: Annotated[
        int, typer.Option(help="Requests each expert holds before answering 503 (0: no limit).")
    ] = 0,
    trace: Annotated[
        bool,
        typer.Option(
            help="Write each server's spans to <AIPRIME_HOME>/serving/traces/, and send them over OTLP to "
            "AIPRIME_OTLP_ENDPOINT, else to the MLflow server when it answers (`aiprime trace ID` shows them)."
        ),
    ] = False,
    kserve_dir: Annotated[
        Path, typer.Option(help="The folder holding the servers (gate/, expert/, ...).")
    ] = Path("kserve"),
    rag: Annotated[
        bool,
        typer.Option(
            help="Also start the retriever and the generator and serve the RAG graph (needs an ingested "
            "collection, see `aiprime rag ingest`, and the generator's gguf)."
        ),
    ] = False,
    collection: Annotated[
        str | None,
        typer.Option(help="The collection the retriever searches (default AIPRIME_RAG_COLLECTION)."),
    ] = None,
    detach: Annotated[
        bool, typer.Option(help="Start in the background and return; stop with `aiprime serve stop`.")
    ] = False,
    gateway: Annotated[
        bool, typer.Option(help="Also the gateway in front of the router: the console, tokens, RBAC, audit.")
    ] = False,
    gateway_port: Annotated[int, typer.Option(help="The gateway's port (0: a free one).")] = 8000,
    media: Annotated[
        bool,
        typer.Option(
            help="Also the modality step and the image expert, and serve the multimodal graph (text, images, "
            "speech; with --rag, rag-multimodal.yaml)."
        ),
    ] = False,
) -> None:
    """Start the gate, the six experts, the combiner and the router on AIPRIME_HOST; Ctrl-C stops them all.

    With --rag, also the retriever and the generator, and the router runs the RAG graph.
    """
    if ctx.invoked_subcommand is not None:
        return
    from aiprime.observability.logs import configure_json_logging
    from aiprime.serving import launcher  # imports the graph router: only when serving

    options = launcher.ServeOptions(
        graph=graph or launcher.default_graph(rag, media), kserve_dir=kserve_dir, media=media,
        router_port=port, base_port=base_port, model_dir=models_dir, alias=alias, load_aware=load_aware,
        max_in_flight=max_in_flight, trace=trace, rag=rag, collection=collection, gateway=gateway,
        gateway_port=gateway_port,
    )  # fmt: skip
    settings = Settings()
    if detach:
        with console.status("starting the model servers and the router"):
            stack = launcher.start(options, settings)
        console.print(_stack_table(stack))
        return
    configure_json_logging("serve", settings.log_dir, console=False)  # the console shows the stack, not logs
    console.print("starting the model servers and the router (Ctrl-C stops them)")
    launcher.run_foreground(options, settings, lambda stack: console.print(_stack_table(stack)))
    console.print("stopped")


@app.command()
def stop() -> None:
    """Stop a stack started with `aiprime serve --detach`."""
    from aiprime.serving import launcher

    stopped = launcher.stop(Settings())
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status() -> None:
    """Show the running stack's endpoints."""
    from aiprime.serving import launcher

    stack = launcher.running(Settings())
    console.print(
        _stack_table(stack) if stack else "no serving stack is running; start one with `aiprime serve`"
    )


def router(
    graph: Annotated[Path, typer.Option(help="The InferenceGraph YAML.")],
    services: Annotated[
        Path | None,
        typer.Option(help="The YAML map of serviceName to URL; needed only when steps use serviceName."),
    ] = None,
    port: Annotated[int, typer.Option(help="The port to bind.")] = 8080,
    host: Annotated[str | None, typer.Option(help="The interface to bind (default AIPRIME_HOST).")] = None,
    trace_file: Annotated[
        Path | None, typer.Option(help="Append the router's spans here as JSON lines.")
    ] = None,
    log_dir: Annotated[
        Path | None,
        typer.Option(help="Write JSON log lines to <log-dir>/router.jsonl (default AIPRIME_HOME/logs)."),
    ] = None,
) -> None:
    """Run an InferenceGraph with KServe's routing semantics until interrupted.

    Like KServe's router, it forwards the headers that PROPAGATE_HEADERS names (comma-separated regexes).
    """
    from aiprime.observability.logs import configure_json_logging
    from aiprime.observability.tracing import configure_tracing
    from aiprime.serving.graph import RouterConfig, serve_router

    configure_json_logging("router", log_dir or Settings().log_dir)
    configure_tracing("router", trace_file, Settings())  # and over OTLP when AIPRIME_OTLP_ENDPOINT is set
    serve_router(graph, services, host or Settings().host, port, RouterConfig.from_env(os.environ))


def ask(
    text: Annotated[
        str | None, typer.Argument(help="The question, e.g. 'a small dog that barks'; or give --audio.")
    ] = None,
    router_url: Annotated[
        str | None, typer.Option("--router", help="The router's URL (default: the running stack's).")
    ] = None,
    services: Annotated[
        Path | None, typer.Option(help="The services mapping (default: the running stack's).")
    ] = None,
    explain: Annotated[bool, typer.Option(help="Also ask the gate and the expert why.")] = True,
    top: Annotated[int, typer.Option(help="Labels and words to show.")] = 5,
    audio: Annotated[
        Path | None, typer.Option(help="A spoken question (WAV, Ogg, FLAC, MP3): transcribed, then asked.")
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option(help="Ask about an image (PNG, JPEG, GIF, WebP, SVG) through the multimodal RAG graph."),
    ] = None,
) -> None:
    """Send a text (or a spoken question's transcript) through the router; show the route, prediction, words."""
    from aiprime.serving import client, launcher
    from aiprime.serving.graph import load_services

    if image is not None:
        return _ask_image(image, text, audio, router_url)
    text = _question_text(text, audio)
    stack = launcher.running(Settings())
    if stack is None and (router_url is None or services is None):
        raise ServiceUnavailable("No serving stack is running; start one with `aiprime serve --detach` "
                                 "or pass --router and --services.")  # fmt: skip
    mapping = load_services(services) if services else stack.services()
    answer = client.ask(text, router_url or stack.router_url, mapping, explain=explain)
    _render_answer(answer, top)


def _ask_image(image: Path, text: str | None, audio: Path | None, router_url: str | None) -> None:
    """Ask the running multimodal graph (or `router_url`) about an image; show what it saw and the answer."""
    from aiprime.serving import launcher
    from aiprime.serving.media_client import ask_image

    if text is not None or audio is not None:
        raise InvalidInput("Give the question as text, as --audio PATH or as --image PATH: one of them.")
    stack = launcher.running(Settings())
    if router_url is None and (stack is None or Path(stack.graph) not in launcher.MEDIA_GRAPHS.values()):
        raise ServiceUnavailable("No multimodal graph is being served; start one with "
                                 "`aiprime serve --rag --media --detach`, or pass --router.")  # fmt: skip
    if not image.is_file():
        raise InvalidInput(
            f"--image: no file at {image}. Give the path of a PNG, JPEG, GIF, WebP or SVG file."
        )
    answer = ask_image(image.read_bytes(), router_url or stack.router_url)
    console.print(f"Seen as [bold]{escape(answer.searched_for)}[/] (domain {answer.domain}, "
                  f"{answer.probability:.3f})", highlight=False)  # fmt: skip
    for words, p in list(answer.synsets.items())[:5]:
        console.print(f"  {p:.3f}  {escape(words)}", highlight=False)
    if answer.reply is not None:
        _print_reply(answer.reply, answer.citations, answer.mode)


def _question_text(text: str | None, audio: Path | None) -> str:
    """The question: `text`, or the transcript of the `audio` file (printed so the user sees what was heard)."""
    if (text is None) == (audio is None):
        raise InvalidInput("Give the question as text or as --audio PATH, not both and not neither.")
    if audio is None:
        return text
    from aiprime.multimodal.speech import transcribe

    if not audio.is_file():
        raise InvalidInput(f"--audio: no file at {audio}. Give the path of a recording.")
    transcript = transcribe(audio.read_bytes(), field="--audio")
    console.print(f"Heard ({transcript.seconds:.1f} s): [bold]{escape(transcript.text)}[/]")
    return transcript.text


def _stack_table(stack) -> Table:
    table = Table(title=f"Serving {stack.graph}")
    for column in ("service", "endpoint"):
        table.add_column(column, overflow="fold")
    for name, url in stack.servers.items():
        table.add_row(name, url)
    table.caption = f"services mapping: {stack.services_file}; logs: {stack.state_dir}/logs"
    return table


def _render_answer(answer, top: int) -> None:
    route = Table(title="Route: the gate's ranking", title_justify="left")
    for column, justify in (("expert", "left"), ("probability", "right"), ("", "left")):
        route.add_column(column, justify=justify)
    for expert, p in zip(answer.experts, answer.probabilities, strict=True):
        route.add_row(expert, f"{p:.3f}", "[green]answered[/]" if expert in answer.answered_by else "")
    console.print(route)
    prediction = Table(title=f"Prediction: {answer.label}", title_justify="left")
    prediction.add_column("label")
    prediction.add_column("score", justify="right")
    for label, score in sorted(answer.scores.items(), key=lambda kv: -kv[1])[:top]:
        prediction.add_row(label, f"{score:.3f}")
    console.print(prediction)
    for who, why in (("gate", answer.gate_explanation), ("expert", answer.expert_explanation)):
        if why:
            _print_words(who, why, top)
    if answer.reply is not None:  # the RAG graph: the generator's answer and what it cites
        _print_reply(answer.reply, answer.citations, answer.mode)


def _print_reply(reply: str, citations: list[str], mode: str | None) -> None:
    cited = ", ".join(citations) or "nothing"
    how = f"{MODES.get(mode, mode)}, " if mode else ""
    console.print(f"\n[bold]Answer[/] ({how}cites {escape(cited)}):\n{escape(reply)}", highlight=False)


def _print_words(who: str, why: dict, top: int) -> None:
    console.print(f"\n[bold]Why the {who} chose {why['target']}[/] ({why['method']}):", highlight=False)
    table = Table(show_header=True)
    table.add_column("word")
    table.add_column("attribution", justify="right")
    for word in sorted(why["words"], key=lambda w: -abs(w["attribution"]))[:top]:
        color = "green" if word["attribution"] > 0 else "red"
        table.add_row(word["word"], f"[{color}]{word['attribution']:+.4f}[/]")
    console.print(table)
    check = "complete" if why["complete"] else "[red]incomplete[/]"
    console.print(f"sum of attributions - (f(x) - f(baseline)) = {why['delta']:+.4f}: {check} "
                  f"(tolerance {why['tolerance']})", highlight=False)  # fmt: skip
