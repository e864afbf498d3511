"""Check KServe objects against the CRDs of `../shared/crds` as strictly as an API server that prunes nothing.

The CI workspace holds KServe's CRDs beside the repository clone (`shared/crds`); they are read from there,
never copied in. A test that needs them skips, naming where it looked, when they are absent.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

CRDS = Path(__file__).resolve().parents[3] / "shared" / "crds"
CRD_FILES = {
    "InferenceService": "serving.kserve.io_inferenceservices.yaml",
    "InferenceGraph": "serving.kserve.io_inferencegraphs.yaml",
}


def strict(schema: dict) -> dict:
    """A copy of a CRD schema that rejects unknown fields, which the API server would silently prune."""
    schema = copy.deepcopy(schema)

    def walk(node: dict) -> None:
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for key in ("properties", "patternProperties"):
            for child in node.get(key, {}).values():
                walk(child)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key])
        for key in ("anyOf", "allOf", "oneOf"):
            for child in node.get(key, []):
                walk(child)

    walk(schema)
    return schema


def strict_validators(crds: Path = CRDS) -> dict[str, jsonschema.Draft7Validator]:
    """A strict validator per KServe kind, from the storage version's openAPIV3Schema of each CRD file."""
    validators = {}
    for kind, filename in CRD_FILES.items():
        with (crds / filename).open() as f:
            crd = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
        validators[kind] = jsonschema.Draft7Validator(strict(version["schema"]["openAPIV3Schema"]))
    return validators


def crd_errors(validators: dict[str, jsonschema.Draft7Validator], manifest: dict) -> list[str]:
    """`path: message` for every way `manifest` breaks its kind's CRD (none for kinds without one)."""
    validator = validators.get(manifest["kind"])
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.path)) if validator else []
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]
