// The AI Prime console: plain DOM, no framework. Every call goes to this gateway, with the user's token.
"use strict";

const state = { token: null, first: null, last: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name === "style") node.style.cssText = value;  // CSSOM: allowed by the page's CSP
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function say(text) {
  $("message").textContent = text || "";
}

// --- calls -----------------------------------------------------------------------------------------------

class CallError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const headers = { authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const document = await response.json().catch(() => null);
  if (!response.ok) throw new CallError(response.status, explainError(response.status, document));
  return { body: document, requestId: response.headers.get("x-request-id") };
}

function explainError(status, document) {
  const error = document && document.error;
  const text = (error && (error.message || error)) || (document && document.error_description);
  if (status === 401) return `Your sign-in has expired or is not valid: sign in again. ${text || ""}`.trim();
  return text ? `${text}` : `The gateway answered ${status}.`;
}

async function login(username, password) {
  const form = new URLSearchParams({ grant_type: "password", username, password });
  const response = await fetch("/oauth/token", { method: "POST", body: form });
  const document = await response.json().catch(() => null);
  if (!response.ok) throw new CallError(response.status, (document && document.error_description) || "Sign-in failed.");
  return document.access_token;
}

// --- sign-in and views -------------------------------------------------------------------------------------

function takeLoginLink() {
  const match = /^#login=([A-Za-z0-9._-]+)$/.exec(window.location.hash);
  if (!match) return null;
  history.replaceState(null, "", window.location.pathname);  // the token leaves the address bar
  return match[1];
}

async function start(token) {
  state.token = token;
  sessionStorage.setItem("aiprime-token", token);
  try {
    const { body } = await call("GET", "/v1/console/links");
    $("who").textContent = `Signed in as ${body.user}`;
    $("dagster-link").href = body.dagster_url;
    $("mlflow-link").href = body.mlflow_url;
  } catch (e) {
    signOut();
    say(e.message);
    return;
  }
  for (const id of ["views", "who", "links"]) $(id).hidden = false;
  $("login-view").hidden = true;
  show("ask");
}

function signOut() {
  state.token = null;
  sessionStorage.removeItem("aiprime-token");
  for (const id of ["views", "who", "links", "ask-view", "rerun-view", "models-view", "agents-view"]) $(id).hidden = true;
  $("login-view").hidden = false;
}

function show(view) {
  for (const button of document.querySelectorAll("#views button")) {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  for (const name of ["ask", "rerun", "models", "agents"]) $(`${name}-view`).hidden = name !== view;
  say("");
  if (view === "models") loadModels();
  if (view === "agents") loadAgents();
  $(`${view}-title`).setAttribute("tabindex", "-1");
  $(`${view}-title`).focus();
}

// --- asking ------------------------------------------------------------------------------------------------

async function run(question) {
  const asked = await call("POST", "/v1/ask", { question, top_k: 4 });
  const record = (asked.body.predictions || [])[0] || {};
  let explanation = null;
  let explainError = null;
  try {
    const explained = await call("POST", "/v1/explain", { instances: [question], parameters: { counterfactual: true } });
    explanation = (explained.body.explanations || [])[0] || null;
  } catch (e) {
    explainError = e.message;
  }
  return { question, record, explanation, explainError, requestId: asked.requestId };
}

// The gate's probability for every expert: from the answer when it carries the gate's ranking, else from the
// gate's explanation of the same question (its `probabilities`), which a RAG answer's later steps leave out.
function routeOf(result) {
  const r = result.record;
  const ranked = Array.isArray(r.experts) && Array.isArray(r.probabilities)
    ? r.experts.map((e, i) => [e, r.probabilities[i]]) : [];
  const explained = Object.entries((result.explanation && result.explanation.probabilities) || {})
    .sort((a, b) => b[1] - a[1]);
  const bars = explained.length > ranked.length ? explained : ranked;
  if (bars.length > 1) return { bars, complete: true };
  if (r.expert !== undefined) return { bars: [[r.expert, r.probability ?? 0]], complete: false };
  return { bars: [], complete: false };
}

function chart(container, bars, label) {
  container.replaceChildren();
  const list = el("ul", { class: "bars", "aria-label": label });
  for (const [name, p] of bars) {
    const percent = Math.round(Number(p) * 1000) / 10;
    const bar = el("span", { class: "bar", style: `width:${Math.max(percent, 0.5)}%` });
    list.append(el("li", {}, el("span", { class: "bar-label", text: `${name}: ${percent}%` }), bar));
  }
  container.append(list);
}

function topWords(explanation, k = 3) {
  const words = (explanation && explanation.words) || [];
  return [...words].sort((a, b) => Math.abs(b.attribution) - Math.abs(a.attribution)).slice(0, k);
}

function sentence(explanation) {
  const top = topWords(explanation, 5);
  const towards = top.filter((w) => w.attribution > 0).slice(0, 3).map((w) => `"${w.word}"`);
  const away = top.filter((w) => w.attribution < 0).slice(0, 2).map((w) => `"${w.word}"`);
  let text = towards.length
    ? `The words ${towards.join(", ")} pushed the model most towards "${explanation.target}"`
    : `No word pushed the model towards "${explanation.target}" much`;
  text += away.length ? `, while ${away.join(", ")} pulled it away.` : ".";
  return text;
}

function highlights(container, explanation) {
  container.replaceChildren();
  const words = explanation.words || [];
  const scale = Math.max(...words.map((w) => Math.abs(w.attribution)), 1e-9);
  for (const w of words) {
    const strength = Math.round((Math.abs(w.attribution) / scale) * 3);
    const sign = w.attribution >= 0 ? "for" : "against";
    const mark = el("mark", { class: `w ${sign} s${strength}`, title: `${w.attribution.toFixed(4)}` }, w.word);
    mark.append(el("span", { class: "sr", text: ` (${sign} "${explanation.target}", ${w.attribution.toFixed(3)})` }));
    container.append(mark, " ");
  }
}

function evidence(container, record) {
  container.replaceChildren();
  const cited = new Set(record.citations || []);
  for (const hit of record.hits || []) {
    const head = el("strong", { text: `${hit.title || hit.doc_id}` });
    const meta = el("span", { class: "meta", text: ` score ${Number(hit.score).toFixed(4)} · ${hit.source || ""} ${hit.doc_id}${cited.has(hit.doc_id) ? " · cited" : ""}` });
    container.append(el("li", {}, head, meta, el("p", { text: hit.content || "" })));
  }
  if (!container.children.length) container.append(el("li", { text: "No passage was retrieved for this question." }));
}

function showResult(result) {
  const r = result.record;
  $("answer").textContent = r.abstained ? `No answer: ${r.answer || "the passages found do not support one."}` : (r.answer ?? JSON.stringify(r));
  $("answer-meta").textContent = `Request ${result.requestId}` + (r.mode ? ` · ${r.mode}` : "") + (r.grounded === undefined ? "" : r.grounded ? " · checked against its passage" : " · not grounded");
  const route = routeOf(result);
  chart($("route-chart"), route.bars, "The gate's probability for each expert");
  $("route-note").textContent = route.complete
    ? "The gate's probability for every expert: it sends the question to the most probable one."
    : "The answer carries only the chosen expert's probability, not the gate's full distribution.";
  if (result.explanation) {
    $("explain-sentence").textContent = sentence(result.explanation);
    highlights($("highlights"), result.explanation);
  } else {
    $("explain-sentence").textContent = `No explanation: ${result.explainError}`;
    $("highlights").replaceChildren();
  }
  evidence($("evidence"), r);
  $("ask-lineage").replaceChildren();
  $("ask-result").hidden = false;
}

async function ask(event) {
  event.preventDefault();
  say("Asking…");
  try {
    const result = await run($("question").value);
    state.first = result;
    state.last = null;
    showResult(result);
    $("edited").value = result.question;
    $("rerun-form").hidden = false;
    $("rerun-empty").hidden = true;
    $("rerun-result").hidden = true;
    say("");
  } catch (e) {
    say(e.message);
  }
}

// --- lineage graph -----------------------------------------------------------------------------------------

async function fetchLineage(path, retries) {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await call("GET", path)).body;
    } catch (e) {
      // The audit log is written just after the answer: a request this fresh may need a moment.
      if (e.status !== 404 || attempt >= retries) throw e;
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
  }
}

function layers(graph) {
  const depth = new Map(graph.nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < graph.nodes.length; pass++) {
    let changed = false;
    for (const e of graph.edges) {  // source depends on target: draw targets further right
      if (depth.get(e.target) <= depth.get(e.source) && depth.get(e.source) < 12) {
        depth.set(e.target, depth.get(e.source) + 1);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns = [];
  for (const n of graph.nodes) (columns[depth.get(n.id)] ||= []).push(n);
  return columns.filter(Boolean);
}

function drawGraph(container, graph, title) {
  container.replaceChildren(el("h4", { text: title }));
  const columns = layers(graph);
  const width = 190, height = 44, shown = 40;
  const box = el("div", { class: "graph", role: "group", "aria-label": `${title}: ${graph.nodes.length} nodes` });
  const where = new Map();
  columns.forEach((column, x) => column.slice(0, shown).forEach((n, y) => where.set(n.id, [x * (width + 40), y * (height + 12)])));
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("aria-hidden", "true");
  const rows = Math.min(Math.max(...columns.map((c) => c.length)), shown);
  svg.setAttribute("width", columns.length * (width + 40));
  svg.setAttribute("height", rows * (height + 12));
  box.style.height = `${rows * (height + 12)}px`;
  for (const e of graph.edges) {
    if (!where.has(e.source) || !where.has(e.target)) continue;
    const [x1, y1] = where.get(e.source), [x2, y2] = where.get(e.target);
    const line = document.createElementNS(svgNS, "line");
    Object.entries({ x1: x1 + width, y1: y1 + height / 2, x2, y2: y2 + height / 2 }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  box.append(svg);
  const details = el("div", { class: "node-details", "aria-live": "polite" });
  for (const n of graph.nodes) {
    if (!where.has(n.id)) continue;
    const [x, y] = where.get(n.id);
    const button = el("button", { type: "button", class: `node ${n.kind}`, style: `left:${x}px;top:${y}px;width:${width}px` }, n.label);
    button.addEventListener("click", () => nodeDetails(details, n, graph));
    box.append(button);
  }
  container.append(box);
  const hidden = graph.nodes.length - where.size;
  if (hidden > 0) {
    container.append(el("p", { class: "meta", text: `${hidden} more nodes (past the first ${shown} of a column) are not drawn; \`aiprime lineage\` writes the whole document.` }));
  }
  container.append(details, missingList(graph));
}

function nodeDetails(container, node, graph) {
  container.replaceChildren(el("h5", { text: `${node.kind}: ${node.label}` }));
  const list = el("dl");
  for (const [k, v] of Object.entries(node.attributes)) list.append(el("dt", { text: k }), el("dd", { text: v }));
  for (const e of graph.edges.filter((e) => e.source === node.id)) list.append(el("dt", { text: e.relation }), el("dd", { text: e.target }));
  container.append(list);
  const model = /^aiprime:model\/([^/]+)\/([0-9]+)$/.exec(node.id);
  if (model) {
    const open = el("button", { type: "button", text: `Open the lineage of ${decodeURIComponent(model[1])} version ${model[2]}` });
    open.addEventListener("click", () => showModelLineage(decodeURIComponent(model[1]), model[2], container));
    container.append(open);
  }
}

function missingList(graph) {
  const wrap = el("div", { class: "missing" });
  if (!graph.missing.length) return wrap;
  wrap.append(el("h5", { text: "Links no stored fact supports (not drawn)" }));
  const list = el("ul");
  for (const m of graph.missing) list.append(el("li", { text: `${m.link}: ${m.reason}` }));
  wrap.append(list);
  return wrap;
}

async function showAskLineage() {
  const target = $("ask-lineage");
  target.replaceChildren(el("p", { text: "Reading the lineage…" }));
  try {
    const graph = await fetchLineage(`/v1/console/lineage/request/${encodeURIComponent(state.first.requestId)}`, 5);
    drawGraph(target, graph, `Lineage of request ${state.first.requestId}`);
  } catch (e) {
    target.replaceChildren(el("p", { class: "error", text: e.message }));
  }
}

async function showModelLineage(name, version, target) {
  target.replaceChildren(el("p", { text: `Reading the lineage of ${name} version ${version}…` }));
  try {
    const graph = await fetchLineage(`/v1/console/lineage/model/${encodeURIComponent(name)}/${encodeURIComponent(version)}`, 0);
    drawGraph(target, graph, `Lineage of ${name} version ${version}`);
  } catch (e) {
    target.replaceChildren(el("p", { class: "error", text: e.message }));
  }
}

// --- edit and re-run ---------------------------------------------------------------------------------------

function diffRows(before, after) {
  const top = (r) => routeOf(r).bars[0] || ["(none)", 0];
  const words = (r) => topWords(r.explanation).map((w) => w.word).join(", ") || "(no explanation)";
  return [
    ["Question", before.question, after.question],
    ["Expert", top(before)[0], top(after)[0]],
    ["Its probability", `${(top(before)[1] * 100).toFixed(1)}%`, `${(top(after)[1] * 100).toFixed(1)}%`],
    ["Answer", before.record.answer ?? "", after.record.answer ?? ""],
    ["Words that weighed most", words(before), words(after)],
  ];
}

function counterfactual(before, after) {
  const offered = after.explanation && after.explanation.counterfactual;
  if (offered) {
    const words = offered.deleted.map((w) => `"${w}"`).join(", ");
    return `Deleting ${words} from the edited question moves the route from "${offered.before}" to ` +
      `"${offered.after}" (${(offered.probability * 100).toFixed(1)}%), the fewest deletions the explainer found.`;
  }
  if (after.explanation && "counterfactual" in after.explanation) {
    return "No deletion of up to 3 words changes the route of the edited question.";
  }
  const moved = (routeOf(before).bars[0] || [])[0] !== (routeOf(after).bars[0] || [])[0];
  const words = topWords(before.explanation).map((w) => `"${w.word}"`).join(", ");
  return (moved ? "Your edit changed the expert. " : "Your edit kept the same expert. ") +
    "The explainer that answered computes no minimal counterfactual, so none is shown. " +
    (words ? `The words that weighed most in the first question were ${words}: changing those is the likeliest way to move the route.` : "");
}

async function rerun(event) {
  event.preventDefault();
  say("Re-running…");
  try {
    const after = await run($("edited").value);
    state.last = after;
    const body = $("diff").querySelector("tbody");
    body.replaceChildren();
    for (const [what, a, b] of diffRows(state.first, after)) {
      body.append(el("tr", a === b ? {} : { class: "changed" }, el("th", { scope: "row", text: what }), el("td", { text: a }), el("td", { text: b })));
    }
    const names = new Set([...routeOf(state.first).bars, ...routeOf(after).bars].map(([n]) => n));
    const bars = [];
    for (const name of names) {
      const p = (r) => (routeOf(r).bars.find(([n]) => n === name) || [name, 0])[1];
      bars.push([`${name} before`, p(state.first)], [`${name} after`, p(after)]);
    }
    chart($("rerun-chart"), bars, "Route probabilities before and after the edit");
    $("counterfactual").textContent = counterfactual(state.first, after);
    $("rerun-result").hidden = false;
    say("");
  } catch (e) {
    say(e.message);
  }
}

// --- models ------------------------------------------------------------------------------------------------

function driftText(drift) {
  if (!drift.checked) return `Drift: ${drift.message}`;
  const when = drift.last_run ? new Date(drift.last_run * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "unknown time";
  const ps = Object.entries(drift.p_values).map(([t, p]) => `${t} p=${p.toPrecision(3)}`).join(", ");
  return `Drift: ${drift.drifted ? "the traffic has drifted from the training data" : "no significant drift"} (${drift.requests} requests checked at ${when}; ${ps}).`;
}

function modelsTable(models) {
  const table = el("table", {}, el("caption", { text: "Champions and challengers" }));
  const head = el("tr");
  for (const h of ["Model", "Version", "Role", "Metrics", "Trained on", "Lineage"]) head.append(el("th", { scope: "col", text: h }));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const m of models) {
    const metrics = Object.entries(m.metrics).slice(0, 4).map(([k, v]) => `${k} ${v.toFixed(4)}`).join("; ") || "none recorded";
    const data = [m.tags.data_version && `data ${m.tags.data_version.slice(0, 10)}`, m.tags.code_version && `code ${m.tags.code_version.slice(0, 10)}`].filter(Boolean).join(", ") || "not recorded";
    const open = el("button", { type: "button", text: `Lineage of ${m.name} v${m.version}` });
    open.addEventListener("click", () => showModelLineage(m.name, m.version, $("model-lineage")));
    const row = el("tr", {}, el("th", { scope: "row", text: m.name }), el("td", { text: m.version }), el("td", { text: m.aliases.join(", ") }), el("td", { text: metrics }), el("td", { text: data }));
    row.append(el("td", {}, open));
    body.append(row);
  }
  table.append(body);
  return table;
}

async function loadModels() {
  $("models-table").replaceChildren(el("p", { text: "Reading the registry…" }));
  try {
    const { body } = await call("GET", "/v1/console/models");
    $("drift").textContent = driftText(body.drift);
    if (body.models_error) $("models-table").replaceChildren(el("p", { class: "error", text: body.models_error }));
    else if (!body.models.length) $("models-table").replaceChildren(el("p", { text: "No model is registered yet: `aiprime train` registers them." }));
    else $("models-table").replaceChildren(modelsTable(body.models));
  } catch (e) {
    $("models-table").replaceChildren(el("p", { class: "error", text: e.message }));
  }
}

// --- agents ------------------------------------------------------------------------------------------------

function simpleTable(caption, headers, rows) {
  const table = el("table", {}, el("caption", { text: caption }));
  const head = el("tr");
  for (const h of headers) head.append(el("th", { scope: "col", text: h }));
  const body = el("tbody");
  for (const cells of rows) body.append(el("tr", {}, ...cells.map((c) => (c instanceof Node ? el("td", {}, c) : el("td", { text: String(c ?? "") })))));
  table.append(el("thead", {}, head), body);
  return table;
}

const CHOICES = { approval: ["approve", "refuse", "cancel"], limit: ["resume", "cancel"] };

function decisionButtons(run) {
  const choices = run.status !== "waiting" ? [] : CHOICES[(run.reason || "").startsWith("approval") ? "approval" : "limit"];
  return choices.map((decision) => {
    const button = el("button", { type: "button", class: "decision", "data-decision": decision, text: `${decision[0].toUpperCase()}${decision.slice(1)}` });
    button.addEventListener("click", () => decide(run.id, decision));
    return button;
  });
}

function showRun(run) {
  const steps = run.steps.map((s) => [s.index, s.tool, s.input, s.status, s.output === null ? s.message : JSON.stringify(s.output).slice(0, 300), s.reward ?? "not scored", s.request_id]);
  const details = [
    el("h3", { text: `Run of ${run.agent} v${run.agent_version}: ${run.status}` }),
    el("p", { id: "run-status", text: `${run.task} (plan ${run.plan.join(" + ") || "none"}, chosen by ${run.policy || "nothing yet"})${run.reason ? `: ${run.reason}` : ""}` }),
    simpleTable("Steps", ["#", "Tool", "Input", "Status", "Output", "Reward", "Request id (audit)"], steps),
  ];
  if (run.answer) details.push(el("p", { id: "run-answer", text: run.answer }));
  const buttons = decisionButtons(run);
  if (buttons.length) details.push(el("p", { class: "decisions" }, ...buttons));
  $("run-details").replaceChildren(...details);
}

async function openRun(id) {
  try {
    showRun((await call("GET", `/v1/agents/runs/${id}`)).body);
  } catch (e) {
    say(e.message);
  }
}

async function decide(id, decision) {
  $("run-details").append(el("p", { class: "meta", text: `Sending “${decision}”…` }));
  try {
    showRun((await call("POST", `/v1/agents/runs/${id}/decision`, { decision })).body);
    await loadRuns();
  } catch (e) {
    say(e.message);
  }
}

async function loadRuns() {
  const { body } = await call("GET", "/v1/agents/runs");
  const rows = body.map((r) => {
    const open = el("button", { type: "button", text: `Open run ${r.id.slice(0, 8)}` });
    open.addEventListener("click", () => openRun(r.id));
    return [r.task, `${r.agent} v${r.agent_version}`, r.status, r.reason || "", r.created_at.replace("T", " ").slice(0, 19), open];
  });
  $("runs-table").replaceChildren(rows.length ? simpleTable("Your runs, newest first", ["Task", "Agent", "Status", "Waiting for", "Started", "Steps"], rows) : el("p", { text: "No agent run yet: `aiprime agents run` starts one." }));
}

function curveChart(points, key, label) {
  // One line over the interactions, scaled to the chart; the table below holds the numbers.
  const svgNS = "http://www.w3.org/2000/svg", width = 320, height = 120;
  const svg = document.createElementNS(svgNS, "svg");
  Object.entries({ width, height, role: "img", "aria-label": label, class: "curve", "data-series": key }).forEach(([k, v]) => svg.setAttribute(k, v));
  const xs = points.map((p) => p.interactions), ys = points.map((p) => p[key]);
  const [xMax, yMax] = [Math.max(...xs, 1), Math.max(...ys, 1e-9)];
  const line = document.createElementNS(svgNS, "polyline");
  line.setAttribute("points", points.map((p) => `${(p.interactions / xMax) * (width - 10) + 5},${height - 5 - (p[key] / yMax) * (height - 10)}`).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "currentColor");
  svg.append(line);
  return el("figure", {}, svg, el("figcaption", { text: `${label} (up to ${yMax.toFixed(key === "mean_reward" ? 3 : 0)})` }));
}

async function loadCurve() {
  try {
    const { body } = await call("GET", "/v1/agents/policy");
    const last = body.curve[body.curve.length - 1];
    const rows = body.curve.map((p) => [p.interactions, p.mean_reward.toFixed(3), p.cumulative_regret.toFixed(0), p.test_success.toFixed(3)]);
    $("policy-curve").replaceChildren(
      el("h3", { text: `The tool policy's learning curve (${body.learner})` }),
      el("p", { id: "curve-summary", text: `After ${last.interactions} interactions: mean reward ${last.mean_reward.toFixed(3)}, cumulative regret ${last.cumulative_regret.toFixed(0)}, held-out success ${last.test_success.toFixed(3)} (the oracle's ${body.oracle.toFixed(3)}).` }),
      curveChart(body.curve, "mean_reward", "Mean reward"),
      curveChart(body.curve, "cumulative_regret", "Cumulative regret against the best plan"),
      simpleTable("Learning curve", ["Interactions", "Mean reward", "Cumulative regret", "Held-out success"], rows),
    );
  } catch (e) {
    $("policy-curve").replaceChildren(el("p", { class: e.status === 404 ? "meta" : "error", text: e.message }));
  }
}

async function loadAgents() {
  $("agents-table").replaceChildren(el("p", { text: "Reading the agents…" }));
  try {
    const { body } = await call("GET", "/v1/agents");
    const rows = body.map((a) => [a.name, a.version, a.tools.join(", "), a.policy, `${a.limits.max_steps} steps, ${a.limits.max_time_s} s`]);
    $("agents-table").replaceChildren(simpleTable("Declared agents", ["Agent", "Version", "Tools", "Policy", "Limits"], rows));
    await loadCurve();
    await loadRuns();
  } catch (e) {
    $("agents-table").replaceChildren(el("p", { class: "error", text: e.status === 404 ? "This gateway serves no agents (`aiprime gateway` does)." : e.message }));
  }
}

// --- wiring ------------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await start(await login($("username").value, $("password").value));
    } catch (e) {
      say(e.message);
    }
  });
  $("ask-form").addEventListener("submit", ask);
  $("rerun-form").addEventListener("submit", rerun);
  $("lineage-button").addEventListener("click", showAskLineage);
  $("logout").addEventListener("click", signOut);
  for (const button of document.querySelectorAll("#views button")) button.addEventListener("click", () => show(button.dataset.view));
  const token = takeLoginLink() || sessionStorage.getItem("aiprime-token");
  if (token) start(token);
});
