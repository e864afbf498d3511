"""The console in a real browser (headless Chromium over the DevTools protocol) on real upstream servers: a
tiny gate trained on real glosses, served by `kserve/gate`, and the retriever on a few real glosses, behind
the local InferenceGraph router (gate, then retriever). A person signs in with the keyboard, asks, reads the
route over every domain, the explanation and the lineage, edits and re-runs, and opens the Models view;
axe-core finds no serious or critical accessibility violation. Screenshots go to `test-artifacts/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from _helpers import AsgiServer, free_port
from _helpers.cdp import Page, browser, chromium_or_skip
from _helpers.console import PASSWORD, Console, start_console
from _helpers.gates import train_gate
from _helpers.graphs import write_graph
from _helpers.processes import ModelServerProcess
from _helpers.rag import DOG_GLOSS, ingested_collection

from aiprime.moe.experts import domains
from aiprime.rag.corpus import Document
from aiprime.serving.graph import create_app, load_graph

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
AXE_VERSION = (
    "4.14.1"  # axe-core from the npm registry (MPL-2.0): cached outside the repository, never committed
)
AXE_CACHE = Path.home() / ".cache" / "aiprime" / f"axe-core-{AXE_VERSION}"
MAX_PAGE_BYTES = 1_000_000
QUESTION = "a domestic animal that barks and is kept as a pet"
EDITS = (  # glosses of the other domains: the test edits the question into the first one routed elsewhere
    "a hand tool with a heavy head for driving nails",
    "a person who teaches children at a school",
    "a feeling of deep sadness and regret",
    "move fast on foot across a field",
    "having the bright colour of blood",
)
DOCS = [
    DOG_GLOSS,
    Document("wn:hammer.n.02", "wordnet", "artifacts", "hammer", "hammer: a hand tool for driving nails"),
    Document("wn:teacher.n.01", "wordnet", "people_society", "teacher", "teacher: a person who teaches"),
]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
CONTROLS = "a[href], button, input, textarea, select"
VISIBLE = "(e => e.offsetParent !== null || getComputedStyle(e).position === 'fixed')"
SERIOUS = """axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`))"""


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_or_skip("test the console in a browser")


@pytest.fixture(scope="module")
def gate(subset_splits: Path, embedding_cache: Path, tmp_path_factory) -> Iterator[ModelServerProcess]:
    """The gate server on a tiny gate trained on real glosses."""
    folder = train_gate(
        subset_splits / "classification.parquet", embedding_cache, tmp_path_factory.mktemp("gate")
    )
    log = tmp_path_factory.mktemp("gate-log") / "gate.log"
    with ModelServerProcess(
        "gate", ["--model_dir", str(folder)], log, env=ENV, ready_timeout_s=600
    ) as server:
        yield server


@pytest.fixture(scope="module")
def retriever(pg_server_url: str, app_db_url: str, embedding_cache: Path, tmp_path_factory):
    """The retriever server on a collection of a few real glosses."""
    collection = ingested_collection(app_db_url, DOCS, embedding_cache, "console-browser")
    args = ["--database_url", pg_server_url, "--collection", collection, "--reranker", "none",
            "--enable_latency_logging", "false"]  # fmt: skip
    log = tmp_path_factory.mktemp("retriever-log") / "retriever.log"
    with ModelServerProcess("retriever", args, log, env=ENV, ready_timeout_s=600) as server:
        yield server


@pytest.fixture(scope="module")
def routes(gate: ModelServerProcess) -> dict[str, dict]:
    """The gate's own record for the question and for the first edit it routes elsewhere."""

    def record(text: str) -> dict:
        return gate.predict({"instances": [text]}).json()["predictions"][0]

    first = record(QUESTION)
    edited = next((text for text in EDITS if record(text)["expert"] != first["expert"]), None)
    assert edited is not None, f"the tiny gate routes every edit to {first['expert']}"
    return {QUESTION: first, edited: record(edited)}


@pytest.fixture(scope="module")
def console(app_db_url: str, gate, retriever, tmp_path_factory) -> Iterator[Console]:
    """The console whose ask goes to the router (gate, then retriever) and explain to the gate."""
    steps = [{"name": "gate", "serviceName": "gate"},
             {"name": "retriever", "serviceName": "retriever", "data": "$response"}]  # fmt: skip
    graph = write_graph(
        tmp_path_factory.mktemp("graph"), "console-ask", {"routerType": "Sequence", "steps": steps}
    )
    services = {"gate": gate.predict_url, "retriever": retriever.predict_url}
    with AsgiServer(create_app(load_graph(graph), services)) as router:
        home = tmp_path_factory.mktemp("console-browser")
        explain = gate.predict_url.replace(":predict", ":explain")
        started = start_console(app_db_url, home, f"{router.url}/", f"http://127.0.0.1:{free_port()}",
                                explain_url=explain)  # fmt: skip
        yield started
        started.stop()


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's script, installed from the npm registry into a cache outside the repository."""
    script = AXE_CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(f"npm is not on PATH: `apt-get install npm` to fetch axe-core {AXE_VERSION}")
        AXE_CACHE.mkdir(parents=True, exist_ok=True)
        command = [
            npm,
            "install",
            "--prefix",
            str(AXE_CACHE),
            "--no-audit",
            "--no-fund",
            f"axe-core@{AXE_VERSION}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            pytest.skip(f"npm could not install axe-core {AXE_VERSION}: {done.stderr[-500:]}")
    return script.read_text()


def sign_in_with_the_keyboard(page: Page, user: str) -> list[str]:
    """Tab to each field, type, and press Enter on the button; the controls focused on the way."""
    focused = []
    for text in (user, PASSWORD, None):
        focused.append(tab_to(page, "#username, #password, #login-form button"))
        if text is not None:
            page.type(text)
    page.press("Enter")
    page.wait_for("!document.getElementById('ask-view').hidden")
    return focused


def tab_to(page: Page, selector: str, presses: int = 30) -> str:
    """Press Tab until the focused element matches `selector`; a description of it."""
    for _ in range(presses):
        page.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return page.evaluate("document.activeElement.id || document.activeElement.textContent")
    raise AssertionError(f"Tab never reached {selector} in {presses} presses")


def reachable_by_tab(page: Page) -> tuple[set[str], set[str], list[str]]:
    """(visible controls, those Tab reached in one round, focused ones without a visible focus outline)."""
    page.evaluate("document.activeElement.blur(), window.scrollTo(0, 0)")
    describe = "(e => e.id || e.getAttribute('href') || e.textContent.trim().slice(0, 40))"
    controls = set(
        page.evaluate(f"[...document.querySelectorAll('{CONTROLS}')].filter({VISIBLE}).map({describe})")
    )
    reached, unmarked = set(), []
    for _ in range(len(controls) + 10):
        page.press("Tab")
        if page.evaluate("document.activeElement === document.body"):  # past the last control
            continue
        name = page.evaluate(f"{describe}(document.activeElement)")
        reached.add(name)
        if page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "none":
            unmarked.append(name)
    return controls, reached, unmarked


@pytest.mark.slow
def test_a_person_asks_reads_why_and_where_from_edits_and_reruns(
    chromium, console, routes, principals, tmp_path
) -> None:
    user = principals.user(PASSWORD, "viewer")
    with browser(chromium, tmp_path / "profile") as page:
        page.open(f"{console.url}/console/")
        focused = sign_in_with_the_keyboard(page, user)
        assert focused[:2] == ["username", "password"]
        assert page.evaluate("document.getElementById('who').textContent") == f"Signed in as {user}"

        question, edited = routes
        tab_to(page, "#question")
        page.type(QUESTION)
        tab_to(page, "#ask-form button")
        page.press("Enter")
        page.wait_for("!document.getElementById('ask-result').hidden")
        chart = page.evaluate("[...document.querySelectorAll('#route-chart li')].map(li => li.textContent)")
        gate_says = routes[question]
        assert [line.split(":")[0] for line in chart] == gate_says[
            "experts"
        ]  # every domain, most probable first
        assert len(chart) == len(domains())
        shown = [float(line.split(": ")[1].rstrip("%")) for line in chart]
        assert shown == pytest.approx([100 * p for p in gate_says["probabilities"]], abs=0.06)
        sentence = page.evaluate("document.getElementById('explain-sentence').textContent")
        assert f'"{gate_says["expert"]}"' in sentence, sentence
        assert page.evaluate("document.querySelectorAll('#highlights mark').length") == len(QUESTION.split())
        assert "dog" in page.evaluate(
            "document.querySelector('#evidence li').textContent"
        )  # the retriever's hit
        page.screenshot(ARTIFACTS / "console-ask.png")

        tab_to(page, "#lineage-button")
        page.press("Enter")
        page.wait_for("document.querySelectorAll('#ask-lineage .node').length >= 3")
        tab_to(page, "#ask-lineage .node.Agent")
        page.press("Enter")
        details = page.wait_for("document.querySelector('#ask-lineage .node-details h5')?.textContent")
        assert details == f"Agent: user: {user}"
        missing = page.evaluate("document.querySelector('#ask-lineage .missing').textContent")
        # the answer names its chunks now; this test's corpus was ingested without DVC, and the panel says so
        assert "ingested without a DVC md5" in missing and "retrieved chunks" not in missing
        page.screenshot(ARTIFACTS / "console-lineage.png")

        page.evaluate("document.querySelector('[data-view=rerun]').focus()")
        page.press("Enter")
        tab_to(page, "#edited")
        page.evaluate("document.getElementById('edited').select()")
        page.type(edited)
        tab_to(page, "#rerun-form button")
        page.press("Enter")
        page.wait_for("!document.getElementById('rerun-result').hidden")
        rows = page.evaluate(
            "[...document.querySelectorAll('#diff tbody tr')].map(r => r.innerText.split('\\t'))"
        )
        assert ["Expert", gate_says["expert"], routes[edited]["expert"]] in rows
        assert page.evaluate("document.querySelectorAll('#diff tr.changed').length") >= 3
        counterfactual = page.evaluate("document.getElementById('counterfactual').textContent")
        assert counterfactual.startswith(("Deleting ", "No deletion of up to 3 words")), counterfactual
        page.screenshot(ARTIFACTS / "console-rerun.png")

        controls, reached, unmarked = reachable_by_tab(page)
        assert controls <= reached, f"not reachable by Tab: {sorted(controls - reached)}"
        assert not unmarked, f"focused without a visible outline: {unmarked}"

        page.evaluate("document.querySelector('[data-view=models]').focus()")
        page.press("Enter")
        message = page.wait_for("document.querySelector('#models-table .error')?.textContent")
        assert "MLflow does not answer" in message
        page.screenshot(ARTIFACTS / "console-models.png")

        weight = page.evaluate(
            "performance.getEntries().filter(e => e.transferSize !== undefined)"
            ".reduce((sum, e) => sum + e.transferSize, 0)"
        )
        assert 0 < weight <= MAX_PAGE_BYTES, f"{weight} bytes over the wire"


@pytest.mark.slow
def test_axe_finds_no_serious_or_critical_violation_in_any_view(
    chromium, console, routes, principals, axe_source: str, tmp_path
) -> None:
    user = principals.user(PASSWORD, "viewer")
    found = {}
    with browser(chromium, tmp_path / "profile") as page:
        page.open(f"{console.url}/console/")
        page.evaluate(axe_source)
        found["sign-in"] = page.evaluate(SERIOUS)
        sign_in_with_the_keyboard(page, user)
        page.evaluate(f"document.getElementById('question').value = {QUESTION!r}")
        page.evaluate("document.querySelector('#ask-form button').click()")
        page.wait_for("!document.getElementById('ask-result').hidden")
        page.evaluate("document.getElementById('lineage-button').click()")
        page.wait_for("document.querySelectorAll('#ask-lineage .node').length >= 3")
        page.evaluate("document.querySelector('#ask-lineage .node').click()")
        found["ask"] = page.evaluate(SERIOUS)
        page.evaluate("document.querySelector('[data-view=rerun]').click()")
        edited = list(routes)[1]
        page.evaluate(f"document.getElementById('edited').value = {edited!r}")
        page.evaluate("document.querySelector('#rerun-form button').click()")
        page.wait_for("!document.getElementById('rerun-result').hidden")
        found["rerun"] = page.evaluate(SERIOUS)
        page.evaluate("document.querySelector('[data-view=models]').click()")
        page.wait_for("!!document.querySelector('#models-table .error')")
        found["models"] = page.evaluate(SERIOUS)
    assert found == {"sign-in": [], "ask": [], "rerun": [], "models": []}
