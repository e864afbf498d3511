"""Serialising a PROV document: PROV-JSON, PROV-N, Turtle (rdflib) or an SVG picture (Graphviz's `dot`)."""

from __future__ import annotations

import shutil

from prov.model import ProvDocument

from aiprime.errors import ConfigError, InvalidInput

FORMATS = ("prov-json", "provn", "ttl", "svg")


def serialize(document: ProvDocument, fmt: str) -> str:
    """`document` in `fmt`, one of FORMATS.

    Raises:
        InvalidInput: an unknown format.
        ConfigError: `svg` without Graphviz's `dot` installed.
    """
    check_format(fmt)
    if fmt == "prov-json":
        return document.serialize(format="json", indent=2)
    if fmt == "provn":
        return document.get_provn()
    if fmt == "ttl":
        return document.serialize(format="rdf", rdf_format="turtle")
    return _svg(document)


def check_format(fmt: str) -> None:
    """Raise InvalidInput unless `fmt` is one of FORMATS."""
    if fmt not in FORMATS:
        raise InvalidInput(f"--format {fmt!r} is not a lineage format; use one of {', '.join(FORMATS)}.")


def _svg(document: ProvDocument) -> str:
    if shutil.which("dot") is None:
        raise ConfigError(
            "--format svg needs Graphviz's `dot`: `apt-get install graphviz`, or use --format prov-json."
        )
    from prov.dot import prov_to_dot

    return prov_to_dot(document).create(format="svg").decode()


def from_prov_json(text: str) -> ProvDocument:
    """A PROV-JSON document read back."""
    return ProvDocument.deserialize(content=text, format="json")
