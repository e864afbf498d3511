"""Every region folder, terraform/envs/<env>/<region>/, is one terragrunt.hcl that runs the one root stack,
terraform/stacks/platform, with its inputs. These tests read the Terragrunt files as Terragrunt does: the
inputs a stack gets are the environment's env.hcl locals and the root's tags (terraform/terragrunt.hcl),
overridden by the region's own `inputs`, with `dependency` outputs where a region reads another's.

Terragrunt cannot run here (no providers, no AWS), so the tests check what `terragrunt hcl validate --inputs`
and a plan would: every input is a declared variable, every required variable gets one, and the values pass
the stack's `validation` blocks (a real `terraform plan` of the stack's variables.tf alone, which needs no
provider).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import hcl2
import pytest

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"
ENVS = TERRAFORM_DIR / "envs"
REGIONS = sorted(p.parent.relative_to(ENVS).as_posix() for p in ENVS.glob("*/*/terragrunt.hcl"))
STACK = TERRAFORM_DIR / "stacks" / "platform"
# `//` makes Terragrunt copy all of terraform/, so the stack's `../../modules/*` sources resolve in its cache.
SOURCE_PREFIX = "${get_parent_terragrunt_dir()}//"
ROOT_INPUTS_PREFIX = "${merge(local.env.locals, "
DEPENDENCY_OUTPUT = re.compile(r"^\$\{dependency\.(\w+)\.outputs\.(\w+)\}$")
_HCL_OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


def _config(infra, region: str) -> dict:
    return infra.load_hcl(ENVS / region / "terragrunt.hcl")


def _sourced_stack(infra, region: str) -> Path:
    """The folder a region's `terraform { source }` names, resolved against the root config's folder."""
    source = _config(infra, region)["terraform"][0]["source"]
    assert source.startswith(SOURCE_PREFIX), (
        f"envs/{region}/terragrunt.hcl: source {source!r} should be {SOURCE_PREFIX}stacks/<name>"
    )
    return TERRAFORM_DIR / source.removeprefix(SOURCE_PREFIX)


def _root_inputs(infra) -> dict:
    """What the root terragrunt.hcl adds to env.hcl's locals: the second argument of its `merge(...)`."""
    expression = infra.load_hcl(TERRAFORM_DIR / "terragrunt.hcl")["inputs"]
    assert expression.startswith(ROOT_INPUTS_PREFIX) and expression.endswith(")}"), (
        f"terraform/terragrunt.hcl: inputs should be merge(local.env.locals, {{...}}), not {expression}"
    )
    added = expression.removeprefix(ROOT_INPUTS_PREFIX).removesuffix(")}")
    return hcl2.loads(f"added = {added}", serialization_options=_HCL_OPTIONS)["added"]


def _inputs(infra, region: str) -> dict:
    """Every input Terragrunt passes the stack for one region, by name."""
    env = infra.load_hcl((ENVS / region).parent / "env.hcl")["locals"][0]
    return {**env, **_root_inputs(infra), **_config(infra, region).get("inputs", {})}


def _dependencies(infra, region: str) -> dict[str, dict]:
    return infra.blocks(_config(infra, region), "dependency")


def _dependency_region(infra, region: str, name: str) -> str:
    """The region folder that `dependency.<name>` of a region reads, relative to envs/."""
    config_path = _dependencies(infra, region)[name]["config_path"]
    return (ENVS / region / config_path).resolve().relative_to(ENVS).as_posix()


def _with_mock_outputs(value, dependencies: dict[str, dict]):
    """`value` with every `dependency.<name>.outputs.<output>` replaced by that dependency's mock output,
    as in a `terragrunt plan` before the dependency exists."""
    if isinstance(value, dict):
        return {key: _with_mock_outputs(item, dependencies) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_mock_outputs(item, dependencies) for item in value]
    match = DEPENDENCY_OUTPUT.match(value) if isinstance(value, str) else None
    return dependencies[match[1]]["mock_outputs"][match[2]] if match else value


def _dependency_references(value) -> set[tuple[str, str]]:
    """(dependency, output) pairs that `value` reads."""
    if isinstance(value, dict):
        return set().union(*map(_dependency_references, value.values()))
    if isinstance(value, list):
        return set().union(*map(_dependency_references, value))
    match = DEPENDENCY_OUTPUT.match(value) if isinstance(value, str) else None
    return {(match[1], match[2])} if match else set()


def _plan_stack_variables(terraform: str, inputs: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    """`terraform plan` of the stack's variables.tf alone with `inputs`: it evaluates every type and
    `validation` block, and needs neither providers nor state."""
    shutil.copy(STACK / "variables.tf", tmp_path)
    (tmp_path / "inputs.tfvars.json").write_text(json.dumps(inputs))
    return subprocess.run(
        [
            terraform,
            f"-chdir={tmp_path}",
            "plan",
            "-input=false",
            "-no-color",
            "-var-file=inputs.tfvars.json",
        ],
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_regions_are_found() -> None:
    assert {"dev/us-east-1", "prod/eu-west-1", "prod/us-east-1"} <= set(REGIONS), REGIONS


@pytest.mark.parametrize("region", REGIONS)
def test_region_folder_holds_only_its_terragrunt_hcl(region: str) -> None:
    files = {p.name for p in (ENVS / region).iterdir() if not p.name.startswith(".")}
    assert files == {"terragrunt.hcl"}, (
        f"envs/{region} holds {sorted(files - {'terragrunt.hcl'})}: Terraform code goes in "
        "terraform/stacks/platform, values in this folder's terragrunt.hcl inputs"
    )


@pytest.mark.parametrize("region", REGIONS)
def test_region_includes_the_root_config(infra, region: str) -> None:
    include = infra.blocks(_config(infra, region), "include")
    assert include["root"]["path"] == '${find_in_parent_folders("terragrunt.hcl")}'
    nearest = next(p for p in (ENVS / region).parents if (p / "terragrunt.hcl").is_file())
    assert nearest == TERRAFORM_DIR, f"envs/{region} would include {nearest}/terragrunt.hcl, not the root"


@pytest.mark.parametrize("region", REGIONS)
def test_region_sources_the_one_stack(infra, region: str) -> None:
    assert _sourced_stack(infra, region) == STACK, f"envs/{region} should run terraform/stacks/platform"
    assert (STACK / "main.tf").is_file()


@pytest.mark.parametrize("region", REGIONS)
def test_region_passes_every_required_variable_of_the_stack(infra, region: str) -> None:
    inputs = set(_inputs(infra, region))
    declared = infra.stack_variables(_sourced_stack(infra, region))
    required = {name for name, body in declared.items() if "default" not in body}
    # Terraform silently ignores an input it does not declare, so a typo here would go unnoticed.
    assert inputs <= set(declared), (
        f"envs/{region}: Terragrunt passes undeclared {sorted(inputs - set(declared))}"
    )
    assert required <= inputs, f"envs/{region}: Terragrunt leaves required {sorted(required - inputs)} unset"


@pytest.mark.parametrize("region", REGIONS)
def test_dependencies_read_outputs_the_stack_has(infra, region: str) -> None:
    outputs = set()
    for tf in STACK.glob("*.tf"):
        outputs |= set(infra.blocks(infra.load_hcl(tf), "output"))
    read = _dependency_references(_config(infra, region).get("inputs", {}))
    for name, dependency in _dependencies(infra, region).items():
        assert _dependency_region(infra, region, name) in REGIONS, (
            f"envs/{region}: dependency.{name} points at no region folder"
        )
        wanted = {output for dep, output in read if dep == name}
        assert wanted <= outputs, f"envs/{region}: dependency.{name} reads missing outputs {wanted - outputs}"
        assert set(dependency["mock_outputs"]) == wanted, (
            f"envs/{region}: dependency.{name} should mock exactly the outputs it reads, {sorted(wanted)}"
        )


@pytest.mark.parametrize("region", REGIONS)
def test_region_inputs_pass_the_stack_validation(infra, region: str, terraform: str, tmp_path: Path) -> None:
    inputs = _with_mock_outputs(_inputs(infra, region), _dependencies(infra, region))
    result = _plan_stack_variables(terraform, inputs, tmp_path)
    assert result.returncode == 0, f"envs/{region}: the stack rejects its inputs:\n{result.stderr}"


def test_stack_validation_rejects_a_primary_without_its_secondary(
    infra, terraform: str, tmp_path: Path
) -> None:
    inputs = _with_mock_outputs(_inputs(infra, "prod/us-east-1"), _dependencies(infra, "prod/us-east-1"))
    del inputs["secondary"]
    result = _plan_stack_variables(terraform, inputs, tmp_path)
    assert result.returncode != 0
    assert "secondary must be set exactly when region_role is primary" in " ".join(result.stderr.split())


def test_each_environment_has_one_writable_database(infra) -> None:
    roles: dict[str, dict[str, str]] = defaultdict(dict)
    for region in REGIONS:
        environment, name = region.split("/")
        roles[environment][name] = _inputs(infra, region)["region_role"]
    for environment, by_region in roles.items():
        writable = [name for name, role in by_region.items() if role != "secondary"]
        assert len(writable) == 1, f"{environment}: one region owns the database, not {writable or 'none'}"
        if "secondary" in by_region.values():
            assert by_region[writable[0]] == "primary", f"{environment}: a secondary needs a primary"


def test_prod_primary_replicates_into_the_secondary(infra) -> None:
    primary = _inputs(infra, "prod/us-east-1")
    assert primary["region_role"] == "primary" and primary["database"]["multi_az"] is True
    secondary = _dependency_region(infra, "prod/us-east-1", "secondary")
    assert secondary == "prod/eu-west-1" and _inputs(infra, secondary)["region_role"] == "secondary"
    assert primary["secondary"]["region"] == _inputs(infra, secondary)["region"], (
        "replicas go to the secondary"
    )
    assert {ref[0] for ref in _dependency_references(primary["secondary"])} == {"secondary"}


def test_dev_has_no_replica_and_a_single_nat(infra) -> None:
    dev = _inputs(infra, "dev/us-east-1")
    assert dev["region_role"] == "standalone" and "secondary" not in dev
    assert dev["single_nat_gateway"] is True


def test_regions_have_distinct_vpc_cidrs(infra) -> None:
    cidrs = {region: _inputs(infra, region)["vpc_cidr"] for region in REGIONS}
    assert len(set(cidrs.values())) == len(cidrs), f"each region needs its own VPC CIDR: {cidrs}"
