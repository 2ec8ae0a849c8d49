// The operations pages of `retailsim serve`: plain JavaScript, no build step, nothing from elsewhere.
// Data comes from the operations API with the bearer token the operator gives (the page itself holds no
// data): from the link `serve` prints (#token=…, removed from the address bar at once) or the form; it is
// kept in sessionStorage, for this tab only. Every value is put in the page as text, never as markup.
"use strict";

const POLL_MS = 2000;
const RECONCILE_EVERY = 8; // polls: reconciliation asks every mock, so it runs less often
const TREND_POINTS = 60;
const TOKEN_KEY = "retailsim-ops-token";

function takeToken() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY) || "";
  const reply = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json", ...(options.headers || {}) },
    cache: "no-store",
  });
  if (reply.status === 401) throw new Unauthorized("the operations token was refused");
  return reply;
}

function say(text, kind = "news") {
  const message = document.getElementById("message");
  message.textContent = text;
  message.dataset.kind = kind;
}

function recovered() {
  // A poll went through: clear a complaint about the connection, keep news (a replay) for the reader.
  if (document.getElementById("message").dataset.kind === "error") say("");
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function fill(tableId, rows, render, key = JSON.stringify(rows)) {
  // Rebuilt only when its rows changed, so a focused button (a keyboard user's place) stays put;
  // key null: tables of figures without controls, rebuilt at every poll.
  const table = document.getElementById(tableId);
  if (key !== null && table.dataset.shown === key) return;
  if (key !== null) table.dataset.shown = key;
  const body = table.querySelector("tbody");
  const fresh = document.createElement("tbody");
  for (const item of rows) render(fresh.insertRow(), item);
  if (!rows.length) {
    const empty = fresh.insertRow();
    const td = cell(empty, "none", "muted");
    td.colSpan = document.querySelectorAll(`#${tableId} thead th`).length;
  }
  body.replaceWith(fresh);
}

function sparkline(values, label) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const width = 120, height = 24, top = Math.max(1, ...values);
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("role", "img");
  const title = document.createElementNS(ns, "title");
  title.textContent = label;
  svg.append(title);
  const line = document.createElementNS(ns, "polyline");
  const step = values.length > 1 ? width / (values.length - 1) : width;
  line.setAttribute("points", values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#0969da");
  line.setAttribute("stroke-width", "1.5");
  svg.append(line);
  return svg;
}

function figure(container, label, value) {
  const box = document.createElement("div");
  box.className = "figure";
  const name = document.createElement("div");
  name.className = "label";
  name.textContent = label;
  const number = document.createElement("div");
  number.className = "value";
  number.textContent = String(value);
  box.append(name, number);
  container.append(box);
}

const trends = new Map(); // destination → recent backlog values
let previous = null; // { at, counters }
let polls = 0;

function renderSummary(summary) {
  const state = document.getElementById("core-state");
  state.textContent = summary.core_up ? "up" : "down";
  state.className = `state ${summary.core_up ? "up" : "down"}`;
  const outbox = summary.outbox || {};
  const byDestination = outbox.by_destination || {};
  const breakers = summary.breakers || {};
  const names = [...new Set([...Object.keys(byDestination), ...Object.keys(breakers)])].sort();
  for (const name of names) {
    const values = trends.get(name) || [];
    values.push(byDestination[name] || 0);
    if (values.length > TREND_POINTS) values.shift();
    trends.set(name, values);
  }
  fill("backlog", names, (row, name) => {
    const values = trends.get(name);
    cell(row, name);
    cell(row, byDestination[name] || 0, "num");
    cell(row, "").append(sparkline(values, `${name} backlog over the last ${values.length} polls: ${values.join(", ")}`));
    const breaker = breakers[name] || "n/a";
    cell(row, breaker, `state ${breaker}`);
  }, null);
  const counters = summary.counters || {};
  const now = Date.now();
  fill("counters", Object.keys(counters).sort(), (row, name) => {
    cell(row, name.replaceAll("_", " "));
    cell(row, counters[name], "num");
    let rate = "–"; // unknown until the second poll
    if (previous && now > previous.at && name in previous.counters) {
      rate = (((counters[name] - previous.counters[name]) * 60000) / (now - previous.at)).toFixed(1);
    }
    cell(row, rate, "num");
  }, null);
  previous = { at: now, counters };
  const business = document.getElementById("business");
  business.replaceChildren();
  figure(business, "messages waiting for the ERP", byDestination.erp || 0);
  figure(business, "updates not yet in Service Cloud", byDestination.service_cloud || 0);
  figure(business, "payment calls waiting (captures, refunds)", byDestination.payment || 0);
  figure(business, "outbox in total", outbox.pending || 0);
  figure(business, "dead letters", (summary.dlq || {}).size || 0);
}

async function replay(id, button) {
  button.disabled = true;
  const reply = await api(`/v1/ops/dlq/${encodeURIComponent(id)}/replay`, { method: "POST" });
  say(reply.ok ? `Dead letter ${id} replayed: it is back in the outbox.` : `Dead letter ${id} could not be replayed (HTTP ${reply.status}).`);
  await refreshDeadLetters();
}

let dlqOrder = null; // the order page shows that order's dead letters only

async function refreshDeadLetters() {
  const reply = await api("/v1/ops/dlq");
  if (!reply.ok) return;
  let letters = (await reply.json()).dead_letters || [];
  if (dlqOrder !== null) letters = letters.filter((d) => d.aggregate_id === dlqOrder);
  fill("dlq", letters, (row, d) => {
    cell(row, d.dlq_id, "num");
    cell(row, d.destination);
    cell(row, d.kind);
    const link = document.createElement("a");
    link.href = `/ops/orders/${encodeURIComponent(d.aggregate_id)}`;
    link.textContent = d.aggregate_id;
    cell(row, "").append(link);
    const reason = String(d.reason || "");
    cell(row, reason.length > 160 ? `${reason.slice(0, 159)}…` : reason, "reason").title = reason;
    cell(row, d.attempts, "num");
    cell(row, d.status);
    const action = cell(row, "");
    if (d.status === "dead") {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Replay";
      button.setAttribute("aria-label", `Replay dead letter ${d.dlq_id} (${d.kind} to ${d.destination})`);
      button.addEventListener("click", () => replay(d.dlq_id, button).catch(failed));
      action.append(button);
    }
  });
}

async function reconcile() {
  const state = document.getElementById("recon-state");
  const reply = await api("/v1/reconciliation");
  if (!reply.ok) {
    state.textContent = `unavailable (HTTP ${reply.status})`;
    return;
  }
  const report = await reply.json();
  const progress = (report.in_progress || {}).count || 0;
  state.textContent = report.clean
    ? `clean: ${report.checked} orders checked, ${progress} still moving`
    : `${report.drift_count} drifting of ${report.checked} checked, ${progress} still moving`;
  state.className = `state ${report.clean ? "clean" : "drift"}`;
  const list = document.getElementById("recon-drift");
  list.replaceChildren(...(report.drift || []).slice(0, 20).map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
}

function failed(error) {
  if (error instanceof Unauthorized) {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenForm("The operations token was refused: enter it again.");
  } else {
    say(`Could not reach the core: ${error.message}`, "error");
  }
}

function showTokenForm(text) {
  document.getElementById("token-form").hidden = false;
  document.getElementById("dashboard").hidden = true;
  say(text);
  document.getElementById("token").focus();
}

async function poll() {
  const reply = await api("/v1/ops/summary");
  if (!reply.ok) throw new Error(`HTTP ${reply.status}`);
  renderSummary(await reply.json());
  await refreshDeadLetters();
  if (polls++ % RECONCILE_EVERY === 0) await reconcile();
  document.getElementById("updated").textContent = new Date().toLocaleTimeString();
}

let timer = null;

function start(run) {
  document.getElementById("token-form").hidden = true;
  document.getElementById("dashboard").hidden = false;
  const tick = () => run().then(recovered, failed).finally(() => {
    if (!document.getElementById("dashboard").hidden) timer = setTimeout(tick, POLL_MS);
  });
  clearTimeout(timer);
  tick();
}

// ---- one order: /ops/orders/{id} ------------------------------------------------------------------

async function showOrder() {
  const order = decodeURIComponent(location.pathname.split("/").pop());
  document.getElementById("order-name").textContent = order;
  const reply = await api(`/v1/orders/${encodeURIComponent(order)}`);
  if (reply.status === 404) {
    say(`The core knows no order ${order}.`);
    return;
  }
  if (!reply.ok) throw new Error(`HTTP ${reply.status}`);
  const view = await reply.json();
  const state = document.getElementById("order-status");
  state.textContent = view.status;
  fill("timeline", view.timeline || [], (row, entry) => {
    cell(row, Number(entry.at).toFixed(3), "num");
    cell(row, entry.source);
    cell(row, entry.event);
    cell(row, entry.status);
  });
  dlqOrder = order;
  await refreshDeadLetters();
  const flow = await api(`/v1/ops/orders/${encodeURIComponent(order)}/flow`, { headers: { Accept: "image/svg+xml" } });
  const box = document.getElementById("flow");
  if (flow.ok) {
    const svg = new DOMParser().parseFromString(await flow.text(), "image/svg+xml").documentElement;
    box.replaceChildren(document.importNode(svg, true));
  } else {
    box.textContent = "This host keeps no message trace; the core's own record of the order is below.";
  }
}

function main() {
  const form = document.getElementById("token-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value);
    start(run);
  });
  const page = document.body.dataset.page;
  const run = page === "order" ? showOrder : poll;
  if (page === "ops") {
    document.getElementById("recon-check").addEventListener("click", () => reconcile().catch(failed));
    document.getElementById("order-form").addEventListener("submit", (event) => {
      event.preventDefault();
      location.href = `/ops/orders/${encodeURIComponent(document.getElementById("order-id").value.trim())}`;
    });
  }
  window.addEventListener("hashchange", () => {
    if (/token=/.test(location.hash) && takeToken()) start(run);
  });
  if (takeToken()) start(run);
  else showTokenForm("Enter the operations token to connect.");
}

main();
