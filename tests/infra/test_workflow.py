"""The deploy workflow cannot run here; these tests pin down its shape: what triggers it, which job runs when,
in what order, and behind which approval."""

from __future__ import annotations

import os

import pytest
import yaml


@pytest.fixture(scope="module")
def workflow(infra) -> dict:
    with (infra.repo / ".github" / "workflows" / "deploy.yml").open() as f:
        parsed = yaml.safe_load(f)
    parsed["on"] = parsed.pop(True, parsed.get("on"))  # YAML 1.1 reads the key `on` as true
    return parsed


def _needs(job: dict) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


def test_triggers_are_pull_requests_and_main(workflow: dict) -> None:
    assert set(workflow["on"]) >= {"pull_request", "push"}
    assert workflow["on"]["push"]["branches"] == ["main"]
    for event in ("pull_request", "push"):
        assert {"terraform/**", "kustomize/**", "docker/**"} <= set(workflow["on"][event]["paths"])


def test_runs_are_never_cancelled_midway(workflow: dict) -> None:
    assert workflow["concurrency"]["cancel-in-progress"] is False, (
        "a cancelled apply leaves a held state lock"
    )


def test_plan_runs_on_pull_requests_for_every_stack(infra, workflow: dict) -> None:
    plan = workflow["jobs"]["plan"]
    assert plan["if"] == "github.event_name == 'pull_request'"
    stacks = plan["strategy"]["matrix"]["stack"]
    on_disk = {
        str(p.parent.relative_to(infra.terraform / "envs"))
        for p in (infra.terraform / "envs").glob("*/*/terragrunt.hcl")
    }
    assert set(stacks) == on_disk
    commands = " ".join(step.get("run", "") for step in plan["steps"])
    assert "terragrunt plan" in commands and "apply" not in commands


def test_applies_run_on_main_behind_environments_in_order(workflow: dict) -> None:
    jobs = workflow["jobs"]
    assert "refs/heads/main" in jobs["apply-dev"]["if"] and jobs["apply-dev"]["environment"] == "dev"
    assert jobs["apply-prod"]["environment"] == "prod", (
        "prod applies wait for the prod environment's reviewers"
    )
    assert _needs(jobs["apply-prod"]) == {"deploy-dev"}, "prod follows a successful dev deploy"
    prod = jobs["apply-prod"]["strategy"]
    assert prod["max-parallel"] == 1
    assert prod["matrix"]["stack"] == ["prod/eu-west-1", "prod/us-east-1"], (
        "the secondary first: it receives the replicas"
    )
    for name in ("apply-dev", "apply-prod"):
        assert any("terragrunt apply" in step.get("run", "") for step in jobs[name]["steps"]), name


def test_deploys_use_the_images_just_built(workflow: dict) -> None:
    jobs = workflow["jobs"]
    for name in ("deploy-dev", "deploy-prod"):
        assert "image" in _needs(jobs[name]), name
        script = " ".join(step.get("run", "") for step in jobs[name]["steps"])
        assert "needs.image.outputs.digest" in script and "needs.image.outputs.cuda-digest" in script, name


def test_image_job_builds_the_project_dockerfile(infra, workflow: dict) -> None:
    builds = [
        s
        for s in workflow["jobs"]["image"]["steps"]
        if s.get("uses", "").startswith("docker/build-push-action")
    ]
    assert len(builds) == 2, "one CPU and one CUDA build"
    for step in builds:
        assert (infra.repo / step["with"]["file"]).is_file()
        assert step["with"]["push"] == "${{ github.event_name != 'pull_request' }}", (
            "pull requests build, never push"
        )


def test_cloud_access_is_oidc_not_keys(workflow: dict) -> None:
    text = yaml.safe_dump(workflow)
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for name, job in workflow["jobs"].items():
        if any("configure-aws-credentials" in s.get("uses", "") for s in job["steps"]):
            assert job["permissions"]["id-token"] == "write", name


def test_every_action_is_pinned_to_a_release(workflow: dict) -> None:
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "uses" in step:
                action, _, ref = step["uses"].partition("@")
                assert ref.startswith("v") or len(ref) == 40, (
                    f"{name}: {action} is not pinned to a tag or commit"
                )


def test_helper_scripts_exist_and_are_executable(infra, workflow: dict) -> None:
    text = yaml.safe_dump(workflow)
    for script in ("install-terragrunt.sh", "deploy-overlay.sh"):
        path = infra.repo / ".github" / "scripts" / script
        assert f".github/scripts/{script}" in text
        assert path.is_file() and os.access(path, os.X_OK), path
