"""Static checks of terraform/: it parses, follows the module conventions, and the stacks wire up.

Providers cannot be downloaded here, so `terraform validate` cannot run; the wiring tests below do the part
of it that matters most: every module call names a declared variable, and every required variable gets a
value. test_terragrunt.py does the same for the Terragrunt inputs each region passes the platform stack.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

MODULE_FILES = {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"}
# Arguments of a `module` block that are Terraform's own, not the module's variables.
META_ARGUMENTS = {"source", "version", "providers", "count", "for_each", "depends_on"}


def test_tf_file_parses(infra, tf_file: Path) -> None:
    parsed = infra.load_hcl(tf_file)
    assert parsed, f"{infra.rel(tf_file)} parsed to nothing"


def test_terragrunt_file_parses(infra, hcl_file: Path) -> None:
    parsed = infra.load_hcl(hcl_file)
    assert "locals" in parsed or "include" in parsed, f"{infra.rel(hcl_file)} has neither locals nor include"


def test_every_variable_is_typed_and_described(infra, tf_file: Path) -> None:
    variables = infra.blocks(infra.load_hcl(tf_file), "variable")
    untyped = [name for name, body in variables.items() if "type" not in body]
    undescribed = [name for name, body in variables.items() if not str(body.get("description", "")).strip()]
    assert not untyped, f"{infra.rel(tf_file)}: variables without `type`: {untyped}"
    assert not undescribed, f"{infra.rel(tf_file)}: variables without `description`: {undescribed}"


def test_every_output_is_described(infra, tf_file: Path) -> None:
    outputs = infra.blocks(infra.load_hcl(tf_file), "output")
    undescribed = [name for name, body in outputs.items() if not str(body.get("description", "")).strip()]
    assert not undescribed, f"{infra.rel(tf_file)}: outputs without `description`: {undescribed}"


def test_module_has_the_standard_files(infra, module_dir: Path) -> None:
    missing = MODULE_FILES - {p.name for p in module_dir.iterdir()}
    assert not missing, f"{infra.rel(module_dir)} lacks {sorted(missing)}"


def test_module_main_resource_is_named_this(infra, module_dir: Path) -> None:
    parsed = infra.load_hcl(module_dir / "main.tf")
    names = {name for entry in parsed.get("resource", []) for body in entry.values() for name in body}
    assert "this" in names, (
        f"{infra.rel(module_dir)}/main.tf has no resource named `this` (got {sorted(names)})"
    )


def test_module_outputs_use_try(infra, module_dir: Path) -> None:
    outputs = infra.blocks(infra.load_hcl(module_dir / "outputs.tf"), "output")
    bare = [name for name, body in outputs.items() if not str(body["value"]).startswith("${try(")]
    assert not bare, f"{infra.rel(module_dir)}: outputs not wrapped in try(): {bare}"


def test_module_validates_its_inputs(infra, module_dir: Path) -> None:
    variables = infra.stack_variables(module_dir)
    validated = [name for name, body in variables.items() if body.get("validation")]
    assert validated, f"{infra.rel(module_dir)} has no validation {{}} block on any variable"


def _module_calls(infra, stack_dir: Path) -> dict[str, dict]:
    calls = {}
    for tf in sorted(stack_dir.glob("*.tf")):
        calls.update(infra.blocks(infra.load_hcl(tf), "module"))
    return calls


def test_module_calls_match_the_module_variables(infra, stack_dir: Path) -> None:
    calls = _module_calls(infra, stack_dir)
    assert calls, f"{infra.rel(stack_dir)} calls no module"
    for name, call in calls.items():
        module_dir = (stack_dir / call["source"]).resolve()
        declared = infra.stack_variables(module_dir)
        given = set(call) - META_ARGUMENTS
        required = {v for v, body in declared.items() if "default" not in body}
        assert given <= set(declared), (
            f"{infra.rel(stack_dir)}: module.{name} passes undeclared {sorted(given - set(declared))}"
        )
        assert required <= given, (
            f"{infra.rel(stack_dir)}: module.{name} misses required {sorted(required - given)}"
        )


PLATFORM = Path("stacks") / "platform"


def test_root_configuration_has_the_standard_files(infra, stack_dir: Path) -> None:
    missing = MODULE_FILES - {p.name for p in stack_dir.iterdir()}
    assert not missing, f"{infra.rel(stack_dir)} lacks {sorted(missing)}"


def test_platform_stack_validates_its_inputs(infra) -> None:
    variables = infra.stack_variables(infra.terraform / PLATFORM)
    unvalidated = {"environment", "region", "region_role", "vpc_cidr", "secondary"} - {
        name for name, body in variables.items() if body.get("validation")
    }
    assert not unvalidated, (
        f"stacks/platform: variables with rules but no validation {{}}: {sorted(unvalidated)}"
    )


def test_platform_stack_uses_the_s3_backend_that_terragrunt_fills(infra) -> None:
    versions = infra.load_hcl(infra.terraform / PLATFORM / "versions.tf")
    assert "s3" in versions["terraform"][0]["backend"][0], (
        "terraform/terragrunt.hcl's remote_state fills it in"
    )


def test_platform_stack_keeps_the_database_state_address(infra) -> None:
    moved = infra.load_hcl(infra.terraform / PLATFORM / "main.tf").get("moved", [])
    # Before the stack was shared, dev and prod/us-east-1 held `module.rds` without a count: without this
    # block the next apply would plan to destroy the database and create `module.rds[0]`.
    assert {"from": "${module.rds}", "to": "${module.rds[0]}"} in moved


def test_root_state_backend_is_s3_with_a_dynamodb_lock(infra) -> None:
    remote = infra.load_hcl(infra.terraform / "terragrunt.hcl")["remote_state"][0]
    assert remote["backend"] == "s3"
    assert remote["config"]["encrypt"] is True
    assert remote["config"]["dynamodb_table"] == "aiprime-tfstate-lock"
    assert "path_relative_to_include()" in remote["config"]["key"], "each stack needs its own state key"
    bootstrap = infra.load_hcl(infra.terraform / "bootstrap" / "main.tf")
    tables = {
        name: body
        for entry in bootstrap["resource"]
        for kind, named in entry.items()
        if kind == "aws_dynamodb_table"
        for name, body in named.items()
    }
    assert tables["lock"]["name"] == "aiprime-tfstate-lock", (
        "bootstrap must create the table Terragrunt locks with"
    )


def test_platform_stack_replicates_only_into_a_secondary(infra) -> None:
    calls = _module_calls(infra, infra.terraform / PLATFORM)
    providers = {key.strip("${}"): value.strip("${}") for key, value in calls["rds"]["providers"].items()}
    assert providers == {"aws": "aws", "aws.replica": "aws.secondary"}, (
        "the replica goes to the secondary region"
    )
    for name, argument in (("rds", "replica"), ("s3", "replication")):
        assert calls[name][argument].startswith("${var.secondary == null ? null :"), (
            f"module.{name}.{argument} should follow var.secondary: replicas exactly where a primary has one"
        )
    assert calls["rds"]["count"] == "${local.owns_database ? 1 : 0}", "a secondary holds only the replica"


def test_eks_has_a_cpu_and_a_tainted_gpu_pool(infra) -> None:
    groups = _module_calls(infra, infra.terraform / PLATFORM)["eks"]["node_groups"]
    assert set(groups) == {"cpu", "gpu"}
    assert "nvidia.com/gpu" in str(groups["gpu"]) and "NO_SCHEDULE" in str(groups["gpu"])


def test_terraform_fmt_is_clean(infra, terraform: str) -> None:
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-list=true", str(infra.terraform)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"run `terraform fmt -recursive terraform/`; unformatted:\n{result.stdout}"
