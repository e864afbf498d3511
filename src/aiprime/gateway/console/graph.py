"""A PROV document as the plain node-edge graph that the console draws (and a person can click through)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from urllib.parse import unquote

from prov.model import ProvDocument, ProvElement, ProvRecord

from aiprime.errors import ServiceUnavailable
from aiprime.gateway.console import catalog
from aiprime.provenance import document
from aiprime.provenance.document import Lineage


@dataclass(frozen=True)
class Node:
    """An entity, activity or agent of the document."""

    id: str  # the qualified name, e.g. aiprime:model/aiprime-gate/3
    kind: str  # Entity | Activity | Agent
    label: str  # the last part of the id, decoded: what the picture prints
    attributes: dict[str, str] = field(default_factory=dict)  # its PROV attributes, as text


@dataclass(frozen=True)
class Edge:
    """A relation between two nodes, read as `source <relation> target` (answer wasGeneratedBy request)."""

    source: str
    target: str
    relation: str  # the PROV relation's name, e.g. Generation, Usage, Derivation


def lineage_graph(lineage: Lineage) -> dict:
    """`{"nodes": [...], "edges": [...], "missing": [{"link", "reason"}]}` of a lineage, JSON-ready."""
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    for record in lineage.document.get_records():
        if isinstance(record, ProvElement):
            nodes[str(record.identifier)] = _node(record)
        else:
            edge = _edge(record)
            if edge is not None:
                edges.append(edge)
    for end in {e.source for e in edges} | {e.target for e in edges}:
        nodes.setdefault(end, Node(end, "Entity", _label(end)))  # named by a relation only
    return {
        "nodes": [asdict(n) for n in nodes.values()],
        "edges": [asdict(e) for e in edges],
        "missing": [asdict(m) for m in lineage.missing],
    }


def model_lineage_graph(where: document.Sources, name: str, version: str) -> dict:
    """The graph of a model version's lineage; when MLflow does not answer, no node and that one missing link.

    Raises:
        NotFound: MLflow answers but has no such version (deleted, or never registered).
    """
    try:
        catalog.probe(where.tracking_uri)
    except ServiceUnavailable as e:
        unreachable = Lineage(ProvDocument())
        unreachable.lack(f"{name} v{version} -> its training run, data and code", str(e))
        return lineage_graph(unreachable)
    return lineage_graph(document.model_lineage(where, name, version))


def _node(record: ProvElement) -> Node:
    attributes = {str(name): str(value) for name, value in record.attributes if value is not None}
    return Node(
        str(record.identifier), record.get_type().localpart, _label(str(record.identifier)), attributes
    )


def _edge(record: ProvRecord) -> Edge | None:
    """The relation's first two formal attributes (subject, object), when both are set."""
    ends = [value for _, value in record.formal_attributes[:2]]
    if len(ends) < 2 or None in ends:
        return None
    return Edge(str(ends[0]), str(ends[1]), record.get_type().localpart)


def _label(identifier: str) -> str:
    """`aiprime:model/aiprime-gate/3` -> `model: aiprime-gate / 3` (parts percent-decoded)."""
    kind, _, rest = identifier.partition(":")[2].partition("/")
    return f"{kind}: {' / '.join(unquote(p) for p in rest.split('/'))}" if rest else kind
