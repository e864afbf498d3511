"""The gateway's WAF (terraform/modules/waf) lets media uploads through, and nothing else.

The web ACL is planned for real with `terraform plan` against the local hashicorp/aws provider (offline: fake
credentials, nothing read from AWS), and the planned rules are run on requests by a small model of WAF's
evaluation: rules by priority, Count rules only label, label match, and the ALB's 8 KiB body inspection limit
with its oversize handling. AWS's managed rules are black boxes: a request lists the rules of theirs that would
match it. Without `terraform` or a local provider mirror those tests skip; the default paths are checked
against the gateway's routes always.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aiprime.gateway.app import create_app
from aiprime.gateway.config import GatewaySettings
from aiprime.settings import Settings

MODULE = Path("modules") / "waf"
# Where Terraform images keep hashicorp/aws offline (a filesystem mirror: <dir>/registry.terraform.io/...).
PROVIDER_MIRRORS = (
    Path("/opt/tf-plugins"),
    Path.home() / ".terraform.d" / "plugins",
    Path("/usr/local/share/terraform/plugins"),
    Path("/usr/share/terraform/plugins"),
)
ROOT = """
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

module "waf" {
  source           = "./waf"
  name             = "aiprime-test-gateway"
  logs_kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
  %s
}
"""
ACL_LABELS = "awswaf:111111111111:webacl:aiprime-test-gateway:"  # the prefix of the web ACL's own labels
ALB_BODY_LIMIT = 8 * 1024  # what an ALB forwards of a body to WAF (the AWS WAF developer guide, "Oversize")
# The labels AWS's managed rules add, as their documentation lists them (not derivable from the rule names).
MANAGED_LABELS = {
    "AWSManagedRulesCommonRuleSet": {
        "CrossSiteScripting_BODY": "awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body",
        "EC2MetaDataSSRF_BODY": "awswaf:managed:aws:core-rule-set:EC2MetaDataSSRF_Body",
        "GenericLFI_BODY": "awswaf:managed:aws:core-rule-set:GenericLFI_Body",
        "GenericRFI_BODY": "awswaf:managed:aws:core-rule-set:GenericRFI_Body",
        "SizeRestrictions_BODY": "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body",
        "NoUserAgent_HEADER": "awswaf:managed:aws:core-rule-set:NoUserAgent_Header",
        "CrossSiteScripting_QUERYARGUMENTS": "awswaf:managed:aws:core-rule-set:CrossSiteScripting_QueryArguments",
        "GenericLFI_URIPATH": "awswaf:managed:aws:core-rule-set:GenericLFI_URIPath",
    },
    "AWSManagedRulesKnownBadInputsRuleSet": {
        "Log4JRCE_HEADER": "awswaf:managed:aws:known-bad-inputs:Log4JRCE_Header",
    },
}
BODY_RULES = ["CrossSiteScripting_BODY", "EC2MetaDataSSRF_BODY", "GenericLFI_BODY", "GenericRFI_BODY"]


@dataclass
class Request:
    """What the model of WAF sees of a request; `managed` names the managed rules that would match it."""

    path: str
    body_bytes: int = 0
    managed: dict[str, set[str]] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)


def _one(blocks: list[dict]) -> dict | None:
    return blocks[0] if blocks else None


def _label_key(key: str) -> str:
    """A label match key as WAF reads it: without a prefix, the web ACL's own."""
    return key if key.startswith("awswaf:") else ACL_LABELS + key


def _matches(statement: dict, request: Request) -> bool:
    """Whether one planned statement matches; any statement kind this model does not know fails the test."""
    kinds = {kind: _one(body) for kind, body in statement.items() if isinstance(body, list) and body}
    assert len(kinds) == 1, f"a statement has one kind, got {sorted(kinds)}"
    [(kind, body)] = kinds.items()
    if kind in ("and_statement", "or_statement"):
        results = [_matches(inner, request) for inner in body["statement"]]
        assert len(results) >= 2, f"WAF needs two or more statements in {kind}"
        return all(results) if kind == "and_statement" else any(results)
    if kind == "not_statement":
        return not _matches(body["statement"][0], request)
    if kind == "label_match_statement":
        assert body["scope"] == "LABEL"
        return _label_key(body["key"]) in request.labels
    if kind == "byte_match_statement":
        return _byte_match(body, request)
    if kind == "size_constraint_statement":
        return _body_size_match(body, request)
    raise AssertionError(f"the WAF model does not know {kind}: teach it before relying on the rule")


def _byte_match(body: dict, request: Request) -> bool:
    assert _one(body["field_to_match"])["uri_path"], "only the URI path is modelled"
    assert [t["type"] for t in body["text_transformation"]] == ["NONE"]
    assert body["positional_constraint"] == "EXACTLY", "media paths are matched exactly, never as prefixes"
    return request.path == body["search_string"]


def _body_size_match(body: dict, request: Request) -> bool:
    inspected = _one(_one(body["field_to_match"])["body"])
    assert inspected and body["comparison_operator"] == "GT"
    if request.body_bytes > ALB_BODY_LIMIT and inspected["oversize_handling"] != "CONTINUE":
        return inspected["oversize_handling"] == "MATCH"
    return min(request.body_bytes, ALB_BODY_LIMIT) > body["size"]


def _managed_group(group: dict, request: Request) -> str | None:
    """Runs a managed rule group: its matching rules label the request; the first not counted blocks."""
    assert not group["scope_down_statement"], f"{group['name']} must inspect every path"
    counted = {o["name"] for o in group["rule_action_override"] if _one(o["action_to_use"])["count"]}
    for name in sorted(request.managed.get(group["name"], set())):
        request.labels.add(MANAGED_LABELS[group["name"]][name])
        if name not in counted:
            return f"{group['name']}:{name}"
    return None


def verdict(rules: list[dict], request: Request) -> str:
    """`allowed`, or the name of the rule that blocks the request (the web ACL's default action is allow)."""
    for rule in sorted(rules, key=lambda r: r["priority"]):
        statement = rule["statement"][0]
        if group := _one(statement["managed_rule_group_statement"]):
            if blocked := _managed_group(group, request):
                return blocked
            continue
        if _one(statement["rate_based_statement"]) or not _matches(statement, request):
            continue  # rates are not modelled (the rule has no scope-down: see its test)
        request.labels |= {ACL_LABELS + label["name"] for label in rule["rule_label"]}
        action = _one(rule["action"])
        if not action["count"]:
            return rule["name"] if action["block"] else "allowed"
    return "allowed"


def _provider_mirror() -> Path:
    for mirror in PROVIDER_MIRRORS:
        if (mirror / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return mirror
    pytest.skip(f"no hashicorp/aws provider in a local mirror ({', '.join(map(str, PROVIDER_MIRRORS))})")


def _terraform(terraform: str, workdir: Path, *arguments: str) -> subprocess.CompletedProcess:
    """One terraform command in `workdir`, with the provider mirror its terraform.rc names."""
    env = os.environ | {"TF_CLI_CONFIG_FILE": str(workdir / "terraform.rc"), "TF_IN_AUTOMATION": "1"}
    return subprocess.run(
        [terraform, *arguments, "-no-color"], cwd=workdir, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def plan(infra, terraform: str, workdir: Path, arguments: str = "") -> subprocess.CompletedProcess:
    """`terraform plan` of the module with the local provider, offline, in a copy under `workdir`.

    The copy drops the module's provider version pin, so a mirror's older 5.x provider can plan it (the wafv2
    blocks used here are the same in 5.x and 6.x); the module itself keeps its pin.
    """
    shutil.copytree(infra.terraform / MODULE, workdir / "waf")
    versions = workdir / "waf" / "versions.tf"
    versions.write_text(versions.read_text().replace('version = ">= 6.0, < 7.0"', ""))
    (workdir / "main.tf").write_text(ROOT % arguments)
    (workdir / "terraform.rc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{_provider_mirror()}"\n  }}\n}}\n'
    )
    init = _terraform(terraform, workdir, "init", "-backend=false", "-input=false")
    assert init.returncode == 0, init.stderr
    return _terraform(terraform, workdir, "plan", "-input=false", "-lock=false", "-out=plan.out")


@pytest.fixture(scope="module")
def rules(infra, terraform: str, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The planned web ACL's rules, with the module's defaults."""
    workdir = tmp_path_factory.mktemp("waf-plan")
    planned = plan(infra, terraform, workdir)
    assert planned.returncode == 0, planned.stderr
    shown = _terraform(terraform, workdir, "show", "-json", "plan.out")
    assert shown.returncode == 0, shown.stderr
    [module] = json.loads(shown.stdout)["planned_values"]["root_module"]["child_modules"]
    [acl] = [r for r in module["resources"] if r["type"] == "aws_wafv2_web_acl"]
    return acl["values"]["rule"]


@pytest.fixture(scope="module")
def media_paths(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The gateway's routes that take media: a request body that may be binary, or JSON with a base64 file."""
    home = tmp_path_factory.mktemp("gateway-home")
    spec = create_app(Settings(home=home, _env_file=None)).openapi()
    return [
        path
        for path, operations in spec["paths"].items()
        for operation in operations.values()
        if takes_media(operation.get("requestBody", {}).get("content", {}), spec["components"]["schemas"])
    ]


def takes_media(content: dict, schemas: dict) -> bool:
    """Whether a request body is binary, or a JSON object with a property in base64 (`contentEncoding`)."""
    if "application/octet-stream" in content:
        return True
    reference = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    properties = schemas.get(reference.rsplit("/", 1)[-1], {}).get("properties", {})
    return any(field.get("contentEncoding") == "base64" for field in properties.values())


def test_the_default_media_paths_are_the_gateways_media_routes(infra, media_paths: list[str]) -> None:
    variables = infra.stack_variables(infra.terraform / MODULE)
    assert "media_upload_paths" in variables, "modules/waf must declare media_upload_paths"
    assert len(media_paths) >= 4, f"the gateway's media routes are {media_paths}: has the media API moved?"
    assert sorted(variables["media_upload_paths"]["default"]) == sorted(media_paths)


def test_media_uploads_up_to_the_gateways_limit_pass(rules: list[dict], media_paths: list[str]) -> None:
    limit = GatewaySettings.model_fields["max_body_bytes"].default  # the gateway refuses more itself (413)
    for path in media_paths:
        for size in (ALB_BODY_LIMIT + 1, 64 * 1024 + 1, limit):
            assert verdict(rules, Request(path, size)) == "allowed", f"{size} bytes to {path}"


@pytest.mark.parametrize(
    "path",
    ["/v1/predict", "/v1/ask", "/v1/ingest", "/v1/predict/media/", "/v1/predict/media2", "/V1/ask/media",
     "/v1/ask/media/../../ingest", "/v1/predict/%6Dedia"],
)  # fmt: skip
def test_every_other_path_keeps_the_size_limit(rules: list[dict], path: str) -> None:
    assert verdict(rules, Request(path, 4 * 1024)) == "allowed"
    assert verdict(rules, Request(path, 64 * 1024 + 1)) == "max-body-size"


@pytest.mark.parametrize("rule", BODY_RULES)
def test_body_rules_spare_the_media_uploads_only(
    rules: list[dict], media_paths: list[str], rule: str
) -> None:
    """A binary body can read as XSS or path traversal; on media uploads it passes, elsewhere it is blocked."""
    tripped = {"AWSManagedRulesCommonRuleSet": {rule}}
    for path in media_paths:
        assert verdict(rules, Request(path, 2048, dict(tripped))) == "allowed", path
    assert verdict(rules, Request("/v1/ask", 2048, dict(tripped))) == "common-rule-set-body"
    assert verdict(rules, Request("/v1/ask/media/", 2048, dict(tripped))) == "common-rule-set-body"


@pytest.mark.parametrize(
    ("group", "rule"),
    [
        ("AWSManagedRulesCommonRuleSet", "NoUserAgent_HEADER"),
        ("AWSManagedRulesCommonRuleSet", "CrossSiteScripting_QUERYARGUMENTS"),
        ("AWSManagedRulesCommonRuleSet", "GenericLFI_URIPATH"),
        ("AWSManagedRulesKnownBadInputsRuleSet", "Log4JRCE_HEADER"),
    ],
)
def test_header_uri_and_query_rules_still_block_media_uploads(
    rules: list[dict], media_paths: list[str], group: str, rule: str
) -> None:
    for path in [*media_paths, "/v1/predict"]:
        assert verdict(rules, Request(path, 2048, {group: {rule}})) == f"{group}:{rule}", path


def test_rate_limit_and_managed_groups_cover_every_path(rules: list[dict]) -> None:
    by_name = {rule["name"]: rule["statement"][0] for rule in rules}
    assert not by_name["rate-limit-per-ip"]["rate_based_statement"][0]["scope_down_statement"]
    for name in MANAGED_LABELS:
        assert not by_name[name]["managed_rule_group_statement"][0]["scope_down_statement"], name


def test_only_the_body_rules_are_counted(rules: list[dict]) -> None:
    [common] = [r for r in rules if r["name"] == "AWSManagedRulesCommonRuleSet"]
    overrides = common["statement"][0]["managed_rule_group_statement"][0]["rule_action_override"]
    assert sorted(o["name"] for o in overrides) == sorted([*BODY_RULES, "SizeRestrictions_BODY"])


def test_media_upload_paths_are_validated(infra, terraform: str, tmp_path: Path) -> None:
    planned = plan(infra, terraform, tmp_path, 'media_upload_paths = ["v1/predict/media"]')
    assert planned.returncode != 0
    assert "media_upload_paths must be" in planned.stderr, planned.stderr
