// incidentd console: plain JavaScript, no build step, no dependencies.
// Talks to the API of the same origin (docs/api.md) with the person's
// bearer token, kept in sessionStorage (this tab only). The list follows
// GET /v1/stream (Server-Sent Events, read with fetch so the token can go
// in a header) and resumes after the last event id when the stream drops.
"use strict";

const TOKEN_KEY = "incidentd.token";
const $ = (sel) => document.querySelector(sel);
const state = { incidents: new Map(), lastEventId: null, stream: null, current: null,
                detailTimer: null };

// ---- talking to the API ------------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

// An API error in words.
function explain(status, body) {
  const msg = body && body.message ? body.message : "";
  const field = body && body.field ? ` (field: ${body.field})` : "";
  switch (status) {
    case 401: return "Your token was not accepted. Sign in again with a valid token.";
    case 403: return `You may not do this: ${msg}`;
    case 404: return `Not found: ${msg}`;
    case 400: return `The request was refused: ${msg}${field}`;
    case 429: return "Too many requests: wait a moment and try again.";
    case 503: return `The service is unavailable right now: ${msg}`;
    default: return `Error ${status}: ${msg || "unexpected answer"}`;
  }
}

async function api(method, path, body) {
  const headers = { "Authorization": `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Error("The server cannot be reached. Check your connection.");
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const err = new Error(explain(res.status, data));
    err.status = res.status;
    throw err;
  }
  return data;
}

function showError(text) {
  const e = $("#error");
  e.textContent = text || "";
  e.hidden = !text;
  if (text && /token was not accepted/.test(text)) signOut(false);
}

// ---- small helpers ------------------------------------------------------------------------

const short = (v, prefix) => (v || "").replace(prefix, "").toLowerCase();
function age(ms) {
  if (!ms) return "-";
  const s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}
function when(ms) { return ms ? new Date(ms).toLocaleString() : "-"; }
function owner(inc) {
  if (inc.owner) return inc.owner;
  return { ROLE_TECHNICAL_MANAGER: "TM", ROLE_CUSTOMER_SERVICE_MANAGER: "CSM" }[inc.owner_role] || "-";
}
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}
function sevBadge(sev) { return el("span", { class: `sev sev-${sev}` }, short(sev, "SEVERITY_")); }

// ---- the list -----------------------------------------------------------------------------

function filters() {
  const f = new FormData($("#filters"));
  const q = new URLSearchParams();
  for (const [k, v] of f.entries()) if (v) q.set(k, v);
  return q;
}

const SEV_ORDER = ["SEVERITY_UNSPECIFIED", "SEVERITY_INFO", "SEVERITY_WARNING", "SEVERITY_MINOR",
                   "SEVERITY_MAJOR", "SEVERITY_CRITICAL"];
function matches(inc) {
  if (inc.status === "STATUS_CLOSED" || inc.stage === "STAGE_CLOSED") return false;
  const q = filters();
  for (const k of ["stage", "scope", "status"]) if (q.get(k) && inc[k] !== q.get(k)) return false;
  const sev = q.get("severity");
  if (sev) {
    const atLeast = sev.endsWith("+"), want = SEV_ORDER.indexOf(sev.replace("+", ""));
    const have = SEV_ORDER.indexOf(inc.severity);
    if (atLeast ? have < want : have !== want) return false;
  }
  const o = (q.get("owner") || "").toLowerCase();
  if (o && owner(inc).toLowerCase() !== o && (inc.owner_role || "").toLowerCase() !== o) return false;
  return true;
}

function row(inc) {
  const tr = el("tr", { tabIndex: 0, "data-id": inc.id },
    el("td", { "data-label": "Severity" }, sevBadge(inc.severity)),
    el("td", { "data-label": "Incident" }, el("a", { href: `#/incident/${encodeURIComponent(inc.id)}` }, inc.id)),
    el("td", { "data-label": "Scope" }, short(inc.scope, "SCOPE_")),
    el("td", { "data-label": "Stage" }, short(inc.stage, "STAGE_")),
    el("td", { "data-label": "Status" }, short(inc.status, "STATUS_")),
    el("td", { "data-label": "Level" }, inc.escalation_level || 0),
    el("td", { "data-label": "Owner" }, owner(inc)),
    el("td", { "data-label": "Age", class: "age", "data-ms": String(inc.detected_at_ms || 0) }, age(inc.detected_at_ms)),
    el("td", { "data-label": "Summary" }, inc.summary || ""));
  const open = () => { location.hash = `#/incident/${encodeURIComponent(inc.id)}`; };
  tr.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") open(); });
  tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
  return tr;
}

function renderList() {
  const rows = [...state.incidents.values()].filter(matches)
    .sort((a, b) => (b.detected_at_ms - a.detected_at_ms) || (a.id < b.id ? 1 : -1));
  $("#incidents tbody").replaceChildren(...rows.map(row));
  $("#empty").hidden = rows.length > 0;
}

async function loadList() {
  const q = filters();
  q.set("limit", "500");
  try {
    const data = await api("GET", `/v1/incidents?${q}`);
    state.incidents.clear();
    for (const inc of data.incidents) state.incidents.set(inc.id, inc);
    renderList();
    showError("");
  } catch (e) { showError(e.message); }
}

// ---- the event stream --------------------------------------------------------------------

function onTransition(rec) {
  const inc = rec.snapshot;
  if (inc && inc.id) {
    state.incidents.set(inc.id, inc);
    renderList();
  }
  if (state.current && rec.incident_id === state.current) {
    clearTimeout(state.detailTimer); // several records of one transition: one reload
    state.detailTimer = setTimeout(() => loadIncident(state.current), 300);
  }
}

function dispatch(block) {
  let id = null, event = "message", data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("id: ")) id = line.slice(4);
    else if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (id) state.lastEventId = id;
  if (event === "transition" && data) onTransition(JSON.parse(data));
}

async function follow() {
  const ctl = new AbortController();
  state.stream = ctl;
  const headers = { "Authorization": `Bearer ${token()}`, "Accept": "text/event-stream" };
  if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
  try {
    const res = await fetch("/v1/stream", { headers, signal: ctl.signal });
    if (!res.ok) {
      let body = null;
      try { body = await res.json(); } catch (e) { body = null; }
      throw Object.assign(new Error(explain(res.status, body)), { status: res.status });
    }
    $("#live").classList.add("on");
    $("#live").textContent = "live";
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        dispatch(buf.slice(0, cut));
        buf = buf.slice(cut + 2);
      }
    }
  } catch (e) {
    if (ctl.signal.aborted) return;
    if (e.status) showError(e.message);
    if (e.status === 401) return;
  }
  $("#live").classList.remove("on");
  $("#live").textContent = "reconnecting";
  if (state.stream === ctl && token()) setTimeout(() => { if (state.stream === ctl) follow(); }, 2000);
}

// ---- one incident -------------------------------------------------------------------------

function facts(inc) {
  const dl = $("#inc-facts");
  const pairs = [["Severity", sevBadge(inc.severity)], ["Status", short(inc.status, "STATUS_")],
    ["Stage", short(inc.stage, "STAGE_")], ["Kind", short(inc.kind, "KIND_")],
    ["Scope", short(inc.scope, "SCOPE_")], ["Owner", `${owner(inc)} (${short(inc.owner_role, "ROLE_")})`],
    ["Level", inc.escalation_level || 0], ["Service", inc.service || "-"],
    ["Sites", (inc.sites || []).join(", ") || "-"], ["Clients", `${inc.clients_total || (inc.clients || []).length}`],
    ["Stakeholders", (inc.stakeholders || []).join(", ") || "-"], ["Detected", when(inc.detected_at_ms)],
    ["Acknowledged", when(inc.acknowledged_at_ms)], ["Resolved", when(inc.resolved_at_ms)],
    ["Review", inc.review_submitted ? `submitted: ${inc.root_cause}` : "not submitted"]];
  if (inc.silenced_by) pairs.push(["Silenced by", inc.silenced_by]);
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function gate(d) {
  const inc = d.incident, box = $("#gate");
  const missing = [];
  if (inc.status !== "STATUS_CLOSED") {
    const blocked = [...d.timeline].reverse().find((r) => r.action === "completion_blocked");
    if (blocked) missing.push(`Last check: ${blocked.detail}`);
    if (!inc.review_submitted) missing.push("review not submitted");
    if (!(inc.tasks || []).some((t) => t.preventive && !t.cancelled)) missing.push("no preventive task");
    for (const t of inc.tasks || []) if (!t.done && !t.cancelled) missing.push(`task ${t.id} not done or cancelled`);
  }
  box.querySelector("ul").replaceChildren(...missing.map((m) => el("li", {}, m)));
  box.hidden = missing.length === 0;
}

function tasks(inc) {
  $("#tasks").replaceChildren(...(inc.tasks || []).map((t) => {
    const li = el("li", { "data-task": t.id, class: t.done || t.cancelled ? "done" : "" },
      `${t.id}: ${t.title}${t.preventive ? " (preventive)" : ""}${t.assignee ? ` — ${t.assignee}` : ""}`,
      t.done ? " — done" : t.cancelled ? " — cancelled" : "");
    if (!t.done && !t.cancelled) {
      const done = el("button", { type: "button" }, "Done");
      done.addEventListener("click", () => send("COMMAND_TASK_DONE", { task_id: t.id }));
      const cancel = el("button", { type: "button" }, "Cancel");
      cancel.addEventListener("click", () => send("COMMAND_TASK_CANCEL", { task_id: t.id }));
      li.append(" ", done, " ", cancel);
    }
    return li;
  }));
  if (!(inc.tasks || []).length) $("#tasks").replaceChildren(el("li", { class: "hint" }, "none"));
  const s = inc.signed_off || [];
  $("#signoffs").replaceChildren(...(s.length ? s.map((n) => el("li", {}, n)) : [el("li", { class: "hint" }, "none")]));
}

function timeline(d) {
  $("#timeline").replaceChildren(...d.timeline.map((r) => el("li", { "data-seq": String(r.seq) },
    el("div", { class: "when" }, `#${r.seq} · ${when(r.at_ms)}`),
    el("div", {}, el("span", { class: "action" }, r.action), " by ", el("span", { class: "actor" }, r.actor)),
    el("div", { class: "detail" }, r.detail))));
  const c = d.chain, p = $("#chain");
  p.className = `chain ${c.ok ? "ok" : "bad"}`;
  const from = d.timeline_source === "redis" ? "Redis timeline" : "ormis.audit";
  p.textContent = c.ok ? `ORMIS chain verified (${c.records} records, from ${from})`
    : `ORMIS chain BROKEN: ${c.reason} (from ${from})`;
}

async function loadIncident(id) {
  try {
    const d = await api("GET", `/v1/incidents/${encodeURIComponent(id)}`);
    if (state.current !== id) return;
    $("#inc-title").textContent = `${d.id}: ${d.incident ? d.incident.summary : ""}`;
    if (d.incident) { facts(d.incident); tasks(d.incident); gate(d); }
    timeline(d);
    showError("");
  } catch (e) { showError(e.message); }
}

async function send(kind, fields) {
  const id = state.current;
  try {
    const r = await api("POST", `/v1/incidents/${encodeURIComponent(id)}/commands`, { kind, ...fields });
    $("#sent").textContent = `${short(kind, "COMMAND_")} sent (${r.command_id}); the timeline follows.`;
    showError("");
    return true;
  } catch (e) {
    showError(e.message);
    $("#sent").textContent = "";
    return false;
  }
}

function formFields(form) {
  const out = {};
  for (const input of form.querySelectorAll("input, textarea")) {
    if (input.type === "checkbox") { if (input.checked) out[input.name] = true; continue; }
    const v = input.value.trim();
    if (!v) continue;
    out[input.name] = input.name === "attendees" ? v.split(",").map((s) => s.trim()).filter(Boolean) : v;
  }
  return out;
}

// ---- silences, maintenance windows, rotations ----------------------------------------------

function matcherText(m) {
  m = m || {};
  const parts = [];
  if (m.service) parts.push(`service=${m.service}`);
  if (m.site) parts.push(`site=${m.site}`);
  if (m.dedup_key_prefix) parts.push(`key^=${m.dedup_key_prefix}`);
  for (const [k, v] of Object.entries(m.labels || {})) parts.push(`${k}=${v}`);
  return parts.join(" ");
}

function controlsSent(text) { $("#controls-sent").textContent = text; }

async function removeEntry(path, what) {
  try {
    await api("DELETE", path);
    controlsSent(`${what} removed.`);
    showError("");
    loadControls();
  } catch (e) { showError(e.message); }
}

function silenceRow(s) {
  const expire = el("button", { type: "button" }, "Expire");
  expire.addEventListener("click", () => removeEntry(`/v1/silences/${encodeURIComponent(s.id)}`, `Silence ${s.id}`));
  return el("tr", { "data-silence": s.id }, el("td", {}, s.id), el("td", {}, s.state),
    el("td", {}, matcherText(s.matchers)), el("td", {}, when(Number(s.ends_at_ms))),
    el("td", {}, s.created_by), el("td", {}, s.comment), el("td", {}, expire));
}

function windowRow(w) {
  const at = `${w.every}${w.weekday ? ` ${w.weekday}` : ""} ${w.at} (UTC${w.tz})`;
  const now = w.active ? `active until ${when(w.until_ms)}` : `next ${when(w.next_from_ms)}`;
  return el("tr", { "data-window": w.name }, el("td", {}, w.name), el("td", {}, matcherText(w.matchers)),
    el("td", {}, at), el("td", {}, `${Math.round(w.for_ms / 60000)} min`), el("td", {}, now));
}

function rotationRow(r) {
  const ovr = (r.overrides || []).map((o) => {
    const rm = el("button", { type: "button" }, "Remove");
    rm.addEventListener("click", () => removeEntry(`/v1/overrides/${encodeURIComponent(o.id)}`, `Override ${o.id}`));
    return el("div", { "data-override": o.id }, `${o.person}${o.covers ? ` for ${o.covers}` : ""} until ${when(Number(o.until_ms))} `, rm);
  });
  return el("tr", { "data-rotation": r.name }, el("td", {}, r.name),
    el("td", { class: "on-call" }, `${r.on_call} (${r.on_call_by})`),
    el("td", {}, `${r.next} at ${when(r.next_handover_ms)}`), el("td", {}, (r.members || []).join(", ")),
    el("td", {}, ...(ovr.length ? ovr : ["none"])));
}

async function loadControls() {
  try {
    const [s, r] = await Promise.all([api("GET", "/v1/silences"), api("GET", "/v1/rotations")]);
    $("#silences tbody").replaceChildren(...s.silences.map(silenceRow));
    $("#no-silences").hidden = s.silences.length > 0;
    $("#windows tbody").replaceChildren(...s.maintenance.map(windowRow));
    $("#rotations tbody").replaceChildren(...r.rotations.map(rotationRow));
    const sel = $("#f-override select");
    const keep = sel.value;
    sel.replaceChildren(...r.rotations.map((x) => el("option", {}, x.name)));
    if (keep) sel.value = keep;
    showError("");
  } catch (e) { showError(e.message); }
}

async function createSilence(form) {
  const f = formFields(form);
  const matchers = {};
  for (const k of ["service", "site", "dedup_key_prefix"]) if (f[k]) matchers[k] = f[k];
  const body = { matchers, comment: f.comment || "", ends_at_ms: Date.now() + Math.round(Number(f.hours) * 3600000) };
  try {
    const s = await api("POST", "/v1/silences", body);
    controlsSent(`Silence ${s.id} created.`);
    form.reset();
    showError("");
    loadControls();
  } catch (e) { showError(e.message); }
}

async function createOverride(form) {
  const f = formFields(form);
  const rotation = form.querySelector("select").value;
  const now = Date.now();
  const body = { person: f.person, from_ms: now, until_ms: now + Math.round(Number(f.hours) * 3600000) };
  if (f.covers) body.covers = f.covers;
  try {
    const o = await api("POST", `/v1/rotations/${encodeURIComponent(rotation)}/overrides`, body);
    controlsSent(`${o.person} is on call in ${rotation} (override ${o.id}).`);
    form.reset();
    showError("");
    loadControls();
  } catch (e) { showError(e.message); }
}

// The person of the token, in the header; the controls only for managers.
async function whoAmI() {
  try {
    const me = await api("GET", "/v1/me");
    $("#who").textContent = `${me.name} (${me.role.replace(/_/g, " ")})`;
    for (const f of ["#f-silence", "#f-override"]) $(f).hidden = !me.may_control;
  } catch (e) { showError(e.message); }
}

// ---- views --------------------------------------------------------------------------------

function show(view) {
  for (const v of ["login-view", "list-view", "incident-view", "controls-view"]) $(`#${v}`).hidden = v !== view;
  $("#logout").hidden = view === "login-view";
  $("#nav").hidden = view === "login-view";
}

function route() {
  if (!token()) { state.current = null; show("login-view"); $("#token").focus(); return; }
  if (!state.stream) { follow(); whoAmI(); }
  const m = location.hash.match(/^#\/incident\/(.+)$/);
  if (location.hash === "#/controls") {
    state.current = null;
    show("controls-view");
    controlsSent("");
    loadControls();
  } else if (m) {
    state.current = decodeURIComponent(m[1]);
    show("incident-view");
    $("#inc-title").textContent = state.current;
    $("#timeline").replaceChildren();
    $("#sent").textContent = "";
    loadIncident(state.current);
  } else {
    state.current = null;
    show("list-view");
    loadList();
  }
}

function signOut(clearError) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (state.stream) state.stream.abort();
  state.stream = null;
  state.lastEventId = null;
  $("#who").textContent = "";
  if (clearError) showError("");
  route();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#token").value = "";
    showError("");
    route();
  });
  $("#logout").addEventListener("click", () => signOut(true));
  $("#filters").addEventListener("change", loadList);
  $("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadList(); });
  for (const form of document.querySelectorAll("#actions form")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      if (await send(form.dataset.kind, formFields(form))) form.reset();
      button.disabled = false;
    });
  }
  $("#f-silence").addEventListener("submit", (ev) => { ev.preventDefault(); createSilence(ev.target); });
  $("#f-override").addEventListener("submit", (ev) => { ev.preventDefault(); createOverride(ev.target); });
  setInterval(() => {
    for (const td of document.querySelectorAll("td.age")) td.textContent = age(Number(td.dataset.ms));
  }, 30000);
  window.addEventListener("hashchange", route);
  route();
});
