// The gateway's page: pick an agent, send a message, follow the task live.
//
// Sending is JSON-RPC `SendMessage` with `returnImmediately: true` (A2A v1.0); following is
// an EventSource on `{agent url}tasks/{id}/events`. EventSource reconnects by itself and
// sends `Last-Event-ID`, so the gateway replays exactly what was missed; events are still
// deduplicated by id here, in case. The page state lives in the URL hash
// (`#agent=NAME&task=ID`), so a task can be bookmarked and reopened.
"use strict";

const $ = (id) => document.getElementById(id);
const FINAL = new Set(["completed", "failed", "canceled", "rejected", "input-required", "auth-required"]);
const TERMINAL = new Set(["completed", "failed", "canceled", "rejected"]);

// Exposed for tests and for the curious: every event id applied, and duplicates dropped.
const ui = (window.a2aUi = { seen: [], duplicates: 0, reconnects: 0 });

let agents = [];
let agent = null; // {name, url, ...} from GET /agents
let view = null; // the task on screen: {id, state, lastId, source, artifacts: Map}
let rpcIds = 0;

class RpcError extends Error {
  constructor(error) {
    super(error.message || "JSON-RPC error");
    this.code = error.code;
    this.data = error.data;
  }
}

function stateName(wire) {
  return String(wire || "").replace(/^TASK_STATE_/, "").toLowerCase().replace(/_/g, "-");
}

function textOf(parts) {
  return (parts || []).filter((p) => typeof p.text === "string").map((p) => p.text).join("");
}

// --- credentials (only for a gateway with auth on) -------------------------------------
// The token is kept in sessionStorage (this tab only). A JWT goes in `Authorization: Bearer`,
// anything else in the API-key header the agent's card names. EventSource cannot send
// headers, so the event stream gets it as `access_token` (RFC 6750), which the gateway
// accepts on that route only.

const TOKEN_KEY = "a2a-gateway-token";

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function authHeaders() {
  const value = token();
  if (!value) return {};
  if (value.split(".").length === 3) return { Authorization: `Bearer ${value}` };
  return { [(agent && agent.apiKeyHeader) || "X-API-Key"]: value };
}

async function loadApiKeyHeader(target) {
  if (target.apiKeyHeader !== undefined) return;
  target.apiKeyHeader = null;
  try {
    const card = await (await fetch(target.cardUrl)).json();
    target.inputModes = [
      ...new Set([...(card.defaultInputModes || []), ...(card.skills || []).flatMap((s) => s.inputModes || [])]),
    ];
    for (const scheme of Object.values(card.securitySchemes || {})) {
      if (scheme.apiKeySecurityScheme) target.apiKeyHeader = scheme.apiKeySecurityScheme.name;
    }
  } catch {
    // the default header name will do
  }
}

async function rpc(method, params) {
  const response = await fetch(agent.url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "A2A-Version": "1.0", ...authHeaders() },
    body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcIds, method, params }),
  });
  if (response.status === 401) {
    throw new Error(
      token() ? "The gateway refused this token." : "This gateway requires a token: enter one above.",
    );
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new Error(`HTTP ${response.status} from ${agent.url}`);
  }
  if (body.error) throw new RpcError(body.error);
  return body.result;
}

// --- agents and the URL hash --------------------------------------------------------

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  return { agent: params.get("agent"), task: params.get("task") };
}

function writeHash(taskId) {
  const params = new URLSearchParams({ agent: agent.name });
  if (taskId) params.set("task", taskId);
  const hash = "#" + params.toString();
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

async function loadAgents() {
  const response = await fetch(new URL("../agents", location.href));
  agents = (await response.json()).agents || [];
  const select = $("agent");
  select.replaceChildren(
    ...agents.map((a) => {
      const option = document.createElement("option");
      option.value = a.name;
      option.textContent = a.health === "SERVING" ? a.name : `${a.name} (${a.health.toLowerCase()})`;
      return option;
    }),
  );
  if (!agents.length) $("agent-description").textContent = "This gateway has no agents.";
}

function selectAgent(name) {
  agent = agents.find((a) => a.name === name) || agents.find((a) => a.default) || agents[0];
  if (!agent) return false;
  $("agent").value = agent.name;
  $("agent-description").textContent = agent.description || `Agent ${agent.name}`;
  const chosen = agent;
  loadApiKeyHeader(agent).then(() => chosen === agent && a2aFiles.accept(chosen.inputModes));
  return true;
}

async function route() {
  const wanted = readHash();
  if (!selectAgent(wanted.agent)) return;
  if (wanted.task) {
    if (!view || view.id !== wanted.task) await openTask(wanted.task);
  } else {
    closeView();
    $("task").hidden = true;
    $("notfound").hidden = true;
    writeHash(null);
  }
  await loadRecent();
}

// --- the task view ------------------------------------------------------------------

function closeView() {
  if (view && view.source) view.source.close();
  view = null;
}

function newView(id) {
  closeView();
  view = { id, state: "", lastId: 0, source: null, artifacts: new Map() };
  ui.seen = [];
  $("notfound").hidden = true;
  $("task").hidden = false;
  $("task-id").textContent = id || "direct reply";
  $("artifacts").replaceChildren();
  $("failure").hidden = true;
  $("answer-form").hidden = true;
  setProgress(null);
  setStatus("");
  setConn("idle");
  writeHash(id);
  markCurrent();
  return view;
}

async function openTask(id) {
  newView(id);
  setState("submitted");
  let task;
  try {
    task = await rpc("GetTask", { id, historyLength: 0 });
  } catch (error) {
    if (error.code === -32001) return showNotFound(id);
    return showFailure(error.message);
  }
  if (!view || view.id !== id) return;
  applyTask(task);
  if (!FINAL.has(view.state)) follow();
}

function showNotFound(id) {
  closeView();
  $("task").hidden = true;
  $("notfound").hidden = false;
  $("notfound-id").textContent = id;
}

function setState(state) {
  view.state = state;
  const badge = $("state");
  badge.textContent = state.replace("-", " ") || "—";
  badge.dataset.state = state;
  $("progress").dataset.state = state;
  $("cancel").disabled = !view.id || TERMINAL.has(state);
}

function setProgress(percent) {
  const bar = $("progress");
  if (percent === null || percent === undefined) {
    bar.dataset.indeterminate = "false";
    $("bar").style.width = "0%";
    $("percent").textContent = "";
    bar.removeAttribute("aria-valuenow");
    return;
  }
  bar.dataset.indeterminate = "false";
  $("bar").style.width = `${percent}%`;
  $("percent").textContent = `${percent}%`;
  bar.setAttribute("aria-valuenow", String(percent));
}

function setStatus(text) {
  $("status-line").textContent = text;
}

function setConn(state) {
  const conn = $("conn");
  conn.dataset.state = state;
  conn.textContent = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…" }[state] || "";
}

function showFailure(text) {
  $("failure").textContent = text;
  $("failure").hidden = false;
}

function applyStatus(status, metadata) {
  const state = stateName(status.state);
  setState(state);
  const text = textOf(status.message && status.message.parts);
  if (metadata && typeof metadata.progress === "number") setProgress(metadata.progress);
  else if (state === "completed") setProgress(100);
  if (state === "failed" || state === "rejected") {
    setStatus("");
    showFailure(text || (metadata && metadata.error && metadata.error.message) || `The task ${state}.`);
  } else if (text) {
    setStatus(text);
  }
  if (state === "input-required" || state === "auth-required") {
    $("question").textContent = text || "The agent needs more input.";
    $("answer-form").hidden = false;
    $("answer").focus();
  } else {
    $("answer-form").hidden = true;
  }
  if (state === "working" && !(metadata && typeof metadata.progress === "number") && !$("percent").textContent) {
    $("progress").dataset.indeterminate = "true";
  }
}

function applyTask(task) {
  applyStatus(task.status || {}, task.metadata);
  view.artifacts.clear();
  $("artifacts").replaceChildren();
  for (const artifact of task.artifacts || []) {
    applyArtifact({ artifact, append: false, lastChunk: true });
  }
}

function applyArtifact(update) {
  const { artifact } = update;
  let entry = view.artifacts.get(artifact.artifactId);
  if (!entry || !update.append) {
    if (!entry) {
      const section = document.createElement("section");
      section.className = "artifact";
      const title = document.createElement("h3");
      const pre = document.createElement("pre");
      section.append(title, pre);
      $("artifacts").append(section);
      entry = { section, title, pre };
      view.artifacts.set(artifact.artifactId, entry);
    }
    entry.title.textContent = artifact.name || artifact.artifactId;
    entry.section.dataset.artifactId = artifact.artifactId;
    entry.pre.textContent = textOf(artifact.parts);
  } else {
    entry.pre.textContent += textOf(artifact.parts);
  }
  a2aFiles.render(entry, artifact, Boolean(update.append), update.metadata);
  entry.section.dataset.streaming = update.lastChunk ? "false" : "true";
}

function applyEvent(result) {
  if (result.task) applyTask(result.task);
  else if (result.statusUpdate) applyStatus(result.statusUpdate.status || {}, result.statusUpdate.metadata);
  else if (result.artifactUpdate) applyArtifact(result.artifactUpdate);
}

// --- the live stream ----------------------------------------------------------------

function follow() {
  const current = view;
  if (current.source) current.source.close();
  const query = new URLSearchParams();
  if (current.lastId > 0) query.set("lastEventId", String(current.lastId));
  if (token()) query.set("access_token", token());
  let url = `${agent.url}tasks/${encodeURIComponent(current.id)}/events`;
  if (query.toString()) url += `?${query}`;
  const source = new EventSource(url);
  current.source = source;
  setConn("connecting");
  source.onopen = () => setConn("live");
  source.onmessage = (message) => {
    if (view !== current) return source.close();
    const data = JSON.parse(message.data);
    if (data.error) {
      source.close();
      const reason = (data.error.data || []).map((d) => d.reason).find(Boolean);
      if (reason === "EVENTS_EXPIRED") {
        current.lastId = 0; // fell too far behind: start again from the current task
        return follow();
      }
      setConn("idle");
      return showFailure(data.error.message);
    }
    const id = Number(message.lastEventId || 0);
    if (id && id <= current.lastId) {
      ui.duplicates += 1;
      return;
    }
    if (id) {
      current.lastId = id;
      ui.seen.push(id);
    }
    applyEvent(data.result);
    if (FINAL.has(current.state)) {
      source.close();
      setConn("idle");
      loadRecent();
    }
  };
  source.onerror = () => {
    if (view !== current) return source.close();
    if (source.readyState === EventSource.CONNECTING) {
      ui.reconnects += 1;
      setConn("reconnecting");
      return;
    }
    // Closed for good (an HTTP error such as 404 or 410): show what the task says now.
    setConn("idle");
    rpc("GetTask", { id: current.id, historyLength: 0 })
      .then((task) => view === current && applyTask(task))
      .catch((error) => {
        if (view !== current) return;
        if (error.code === -32001) showNotFound(current.id);
        else showFailure(error.message);
      });
  };
}

// --- actions ------------------------------------------------------------------------

function userMessage(text, taskId, files = []) {
  const parts = text || !files.length ? [{ text }, ...files] : files;
  const message = { messageId: crypto.randomUUID(), role: "ROLE_USER", parts };
  if (taskId) message.taskId = taskId;
  return message;
}

async function send(event) {
  event.preventDefault();
  const text = $("text").value;
  const files = a2aFiles.parts();
  if (!text.trim() && !files.length) {
    $("send-error").textContent = "Write a message or attach a file.";
    return;
  }
  $("send").disabled = true;
  $("send-error").textContent = "";
  try {
    const result = await rpc("SendMessage", {
      message: userMessage(text.trim() ? text : "", null, files),
      configuration: { returnImmediately: true, historyLength: 0 }, // not the files back
    });
    a2aFiles.clear();
    if (result.message) {
      newView(null);
      writeHash(null);
      setState("completed");
      setProgress(100);
      setStatus("The agent replied directly.");
      applyArtifact({ artifact: { artifactId: "reply", name: "reply", parts: result.message.parts }, append: false, lastChunk: true });
      return;
    }
    newView(result.task.id);
    applyTask(result.task);
    // A new task's first event (id 1) is this Task, submitted: follow from there, so every
    // later event shows (page by page progress too), not just the state once subscribed.
    if (view.state === "submitted" && !(result.task.artifacts || []).length) view.lastId = 1;
    follow();
    loadRecent();
  } catch (error) {
    $("send-error").textContent = error.message;
  } finally {
    $("send").disabled = false;
  }
}

async function answer(event) {
  event.preventDefault();
  const text = $("answer").value;
  const current = view;
  try {
    await rpc("SendMessage", {
      message: userMessage(text, current.id),
      configuration: { returnImmediately: true },
    });
    $("answer").value = "";
    $("answer-form").hidden = true;
    follow(); // from the last event seen: the new turn's events
  } catch (error) {
    showFailure(error.message);
  }
}

async function cancel() {
  if (!view || !view.id) return;
  $("cancel").disabled = true;
  try {
    const task = await rpc("CancelTask", { id: view.id });
    if (!view.source || view.source.readyState === EventSource.CLOSED) applyStatus(task.status || {}, task.metadata);
  } catch (error) {
    showFailure(error.message);
  }
}

// --- recent tasks -------------------------------------------------------------------

function ago(timestamp) {
  const seconds = Math.max(0, (Date.now() - Date.parse(timestamp)) / 1000);
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${Math.round(seconds)}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

async function loadRecent() {
  if (!agent) return;
  let result;
  try {
    result = await rpc("ListTasks", { pageSize: 20 });
  } catch {
    return;
  }
  const items = (result.tasks || []).map((task) => {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = `#agent=${encodeURIComponent(agent.name)}&task=${encodeURIComponent(task.id)}`;
    link.dataset.taskId = task.id;
    const line1 = document.createElement("div");
    line1.className = "line1";
    const what = document.createElement("span");
    what.className = "what";
    const first = (task.history || []).find((m) => m.role === "ROLE_USER");
    const named = ((first && first.parts) || []).map((p) => p.filename).filter(Boolean).join(", ");
    what.textContent = textOf(first && first.parts) || named || task.id;
    const badge = document.createElement("span");
    const state = stateName(task.status && task.status.state);
    badge.className = "badge";
    badge.dataset.state = state;
    badge.textContent = state.replace("-", " ");
    line1.append(what, badge);
    const when = document.createElement("div");
    when.className = "when";
    when.textContent = ago(task.status && task.status.timestamp);
    link.append(line1, when);
    li.append(link);
    return li;
  });
  $("tasks").replaceChildren(...items);
  $("no-tasks").hidden = items.length > 0;
  markCurrent();
}

function markCurrent() {
  for (const link of document.querySelectorAll("#tasks a")) {
    link.setAttribute("aria-current", String(Boolean(view && link.dataset.taskId === view.id)));
  }
}

// --- start --------------------------------------------------------------------------

$("send-form").addEventListener("submit", send);
$("answer-form").addEventListener("submit", answer);
$("cancel").addEventListener("click", cancel);
$("refresh").addEventListener("click", () => loadRecent());
$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("send-form").requestSubmit();
});
$("agent").addEventListener("change", () => {
  closeView();
  location.hash = `agent=${encodeURIComponent($("agent").value)}`;
});
window.addEventListener("hashchange", route);
$("token").value = token();
$("token").addEventListener("change", () => {
  const value = $("token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  loadRecent();
});

loadAgents()
  .then(route)
  .catch((error) => {
    $("agent-description").textContent = `Cannot list the agents: ${error.message}`;
  });
