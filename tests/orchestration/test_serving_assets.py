"""The `everything` job serves early: the first answer's steps run before the rest of the store fills in."""

from pathlib import Path

from dagster._core.execution.api import create_execution_plan
from dagster._core.execution.plan.outputs import StepOutputHandle
from dagster._core.execution.retries import RetryMode

from aiprime.orchestration.definitions import build_definitions
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def executed_order(tmp_path: Path) -> list[str]:
    """The step keys of `everything` in the order Dagster's in-process executor runs them, each succeeding."""
    job = build_definitions(Settings(home=tmp_path, _env_file=None), REPO).resolve_job_def("everything")
    order = []
    with create_execution_plan(job).start(retry_mode=RetryMode.DISABLED) as active:
        while not active.is_complete:
            step = active.get_next_step()  # what `execute_in_process` would run next, one at a time
            order.append(step.key)
            for output in step.step_outputs:
                active.mark_step_produced_output(StepOutputHandle(step.key, output.name))
            active.mark_success(step.key)
    return order


def test_the_first_answer_comes_before_the_rest_of_the_store_the_index_and_the_reranker(tmp_path) -> None:
    order = executed_order(tmp_path)
    first = order.index("first_answer")
    assert order.index("moe_models") < first and order.index("wordnet_embeddings") < first
    for filled_later in ("document_embeddings", "vector_index", "reranker", "reranker_calibration"):
        assert first < order.index(filled_later), (filled_later, order)
    assert order[-1] == "deployment"  # the stack is restarted on everything at the end
