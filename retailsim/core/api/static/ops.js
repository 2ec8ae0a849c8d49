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
  const width = 120, height = 24, top = Math.max(1, ...values);
  const svg = svgElement("svg", { class: "spark", width, height, role: "img" });
  svg.append(svgElement("title", {}, label));
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`).join(" ");
  svg.append(svgElement("polyline", { points, fill: "none", stroke: "#0969da", "stroke-width": "1.5" }));
  return svg;
}

function svgElement(name, attributes, text) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function figure(container, key, label, value) {
  // Made once, then only its number changes (and only when it changed): the live region around the
  // figures announces a change, not every poll.
  let box = container.querySelector(`[data-key="${key}"]`);
  if (!box) {
    box = document.createElement("div");
    box.className = "figure";
    box.dataset.key = key;
    const name = document.createElement("div");
    name.className = "label";
    name.textContent = label;
    const number = document.createElement("div");
    number.className = "value";
    box.append(name, number);
    container.append(box);
  }
  const number = box.querySelector(".value");
  if (number.textContent !== String(value)) number.textContent = String(value);
}

class RateMeter {
  // Per-minute rates of growing totals, over the time between two polls ("–" until the second).
  constructor() { this.previous = null; }

  rate(name, total, now) {
    const before = this.previous;
    if (!before || now <= before.at || !(name in before.totals)) return "–";
    return (((total - before.totals[name]) * 60000) / (now - before.at)).toFixed(1);
  }

  mark(totals, now) { this.previous = { at: now, totals }; }
}

const trends = new Map(); // destination → recent backlog values
const counterRates = new RateMeter();
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
    cell(row, counterRates.rate(name, counters[name], now), "num");
  }, null);
  counterRates.mark(counters, now);
  const business = document.getElementById("business");
  figure(business, "erp-messages", "messages waiting for the ERP", byDestination.erp || 0);
  figure(business, "service-cloud-messages", "updates not yet sent to Service Cloud", byDestination.service_cloud || 0);
  figure(business, "payment-messages", "payment calls waiting (captures, refunds)", byDestination.payment || 0);
  figure(business, "outbox", "outbox in total", outbox.pending || 0);
  figure(business, "dead-letters", "dead letters", (summary.dlq || {}).size || 0);
  return byDestination;
}

// ---- the host's live view: /v1/ops/live ------------------------------------------------------------

const TIMELINE_POINTS = 150; // polls: five minutes at one every two seconds
const timeline = []; // { at: the core's clock (s), backlog: { destination: messages } }
const moveRates = new RateMeter();
const milliseconds = (seconds) => (seconds === null || seconds === undefined ? "–" : (seconds * 1000).toFixed(1));
const seconds = (value) => Number(value).toFixed(1);

function renderLive(view, backlog) {
  const business = view.business || {};
  const figures = document.getElementById("business");
  figure(figures, "orders-waiting-for-erp", "orders waiting for ERP posting", business.orders_waiting_for_erp ?? 0);
  figure(figures, "shipments-not-in-service-cloud", "shipments not yet in Service Cloud", business.shipments_not_in_service_cloud ?? 0);
  figure(figures, "refunds-waiting-on-finance", "refunds waiting on finance", business.refunds_waiting_on_finance ?? 0);

  const systems = view.systems || {};
  fill("systems", Object.keys(systems).sort(), (row, name) => {
    const system = systems[name];
    const latency = system.latency_s || {};
    const errors = system.errors || {};
    cell(row, name);
    cell(row, system.calls, "num");
    for (const q of ["p50", "p90", "p99"]) cell(row, milliseconds(latency[q]), "num");
    for (const kind of ["ok", "refused", "throttled", "server_error", "no_reply"]) cell(row, errors[kind] ?? 0, "num");
  }, null);

  const breakers = view.breakers || {};
  const buckets = view.buckets || {};
  fill("throttles", [...new Set([...Object.keys(breakers), ...Object.keys(buckets)])].sort(), (row, name) => {
    const breaker = breakers[name] || {};
    const bucket = buckets[name];
    cell(row, name);
    cell(row, breaker.state || "n/a", `state ${breaker.state || ""}`);
    cell(row, breaker.failures ?? "", "num");
    cell(row, breaker.state === "open" ? seconds(breaker.retry_in_s) : "–", "num");
    cell(row, bucket ? `${bucket.tokens.toFixed(1)} of ${bucket.burst}` : "no bucket", "num");
    cell(row, bucket ? bucket.rate_per_s : "–", "num");
    cell(row, bucket ? seconds(bucket.ready_in_s) : "–", "num");
  }, null);

  const now = Date.now();
  const moves = [];
  const totals = {};
  for (const [workflow, statuses] of Object.entries(view.workflows || {})) {
    for (const [status, total] of Object.entries(statuses)) {
      moves.push({ workflow, status, total, key: `${workflow}/${status}` });
      totals[`${workflow}/${status}`] = total;
    }
  }
  fill("workflows", moves, (row, move) => {
    cell(row, move.workflow.replaceAll("_", " "));
    cell(row, move.status.replaceAll("_", " "));
    cell(row, move.total, "num");
    cell(row, moveRates.rate(move.key, move.total, now), "num");
  }, null);
  moveRates.mark(totals, now);

  const faults = view.faults || [];
  fill("faults", faults, (row, fault) => {
    cell(row, fault.kind.replaceAll("_", " "));
    cell(row, fault.target);
    cell(row, seconds(fault.start), "num");
    cell(row, seconds(fault.end), "num");
    cell(row, fault.state, `state ${fault.state}`);
  }, faults.map((f) => `${f.kind}/${f.target}/${f.state}`).join(","));

  timeline.push({ at: view.now, backlog: { ...backlog } });
  if (timeline.length > TIMELINE_POINTS) timeline.shift();
  drawTimeline(faults);
}

const LINE_COLOURS = ["#0969da", "#bc4c00", "#1a7f37", "#8250df", "#cf222e", "#9a6700", "#57606a"];

function drawTimeline(faults) {
  // One lane per fault window above the plot (a window that spans the view is a full-width bar, not a
  // tinted plot), the backlog lines below, both on the core's clock.
  const first = timeline[0].at, last = timeline[timeline.length - 1].at;
  const span = Math.max(last - first, 1e-9);
  const width = 760, left = 44, right = 150, laneHeight = 16;
  const shown = faults.filter((f) => f.end >= first && f.start <= last);
  const top = 6 + shown.length * laneHeight + 6, plotHeight = 140, height = top + plotHeight + 22;
  const x = (t) => left + ((t - first) / span) * (width - left - right);
  const names = [...new Set(timeline.flatMap((p) => Object.keys(p.backlog)))].sort();
  const peak = Math.max(1, ...timeline.flatMap((p) => Object.values(p.backlog)));
  const y = (v) => top + plotHeight - (v / peak) * plotHeight;
  const active = shown.filter((f) => f.state === "active" || f.state === "armed");
  const summary = `Backlog from ${seconds(first)} s to ${seconds(last)} s on the core's clock, peak ${peak} messages`
    + `; ${names.map((n) => `${n} now ${timeline[timeline.length - 1].backlog[n] || 0}`).join(", ") || "no destinations"}`
    + `; fault windows in view: ${shown.map((f) => `${f.kind} on ${f.target} (${f.state})`).join(", ") || "none"}.`;
  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": summary });
  svg.append(svgElement("title", {}, summary));
  shown.forEach((fault, i) => {
    const from = x(Math.max(fault.start, first)), to = x(Math.min(fault.end, last));
    const lane = 6 + i * laneHeight;
    svg.append(svgElement("rect", {
      class: `fault ${fault.state}`, x: from, y: lane, width: Math.max(2, to - from), height: laneHeight - 3,
      fill: fault.state === "active" ? "#ffebe9" : "#f6f8fa", stroke: "#cf222e", "stroke-width": 1,
    }));
    svg.append(svgElement("text", { x: from + 4, y: lane + laneHeight - 6, "font-size": 11, fill: "#1f2328" },
      `${fault.kind} · ${fault.target} (${fault.state})`));
  });
  svg.append(svgElement("line", { x1: left, y1: top + plotHeight, x2: width - right, y2: top + plotHeight, stroke: "#d0d7de" }));
  svg.append(svgElement("text", { x: left - 4, y: top + 10, "font-size": 11, "text-anchor": "end", fill: "#57606a" }, String(peak)));
  svg.append(svgElement("text", { x: left - 4, y: top + plotHeight, "font-size": 11, "text-anchor": "end", fill: "#57606a" }, "0"));
  svg.append(svgElement("text", { x: left, y: height - 6, "font-size": 11, fill: "#57606a" }, `${seconds(first)} s`));
  svg.append(svgElement("text", { x: width - right, y: height - 6, "font-size": 11, "text-anchor": "end", fill: "#57606a" }, `${seconds(last)} s`));
  names.forEach((name, i) => {
    const colour = LINE_COLOURS[i % LINE_COLOURS.length];
    const points = timeline.map((p) => `${x(p.at).toFixed(1)},${y(p.backlog[name] || 0).toFixed(1)}`).join(" ");
    svg.append(svgElement("polyline", { points, fill: "none", stroke: colour, "stroke-width": 1.5, "stroke-dasharray": i % 2 ? "4 2" : "" }));
    svg.append(svgElement("text", { x: width - right + 8, y: top + 12 + i * 14, "font-size": 11, fill: colour },
      `${name}: ${timeline[timeline.length - 1].backlog[name] || 0}`));
  });
  document.getElementById("timeline-chart").replaceChildren(svg);
  document.getElementById("timeline-chart").dataset.activeFaults = String(active.length);
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

let liveView = true; // false once the host said it has none (404): the page shows the core's summary only

async function poll() {
  const reply = await api("/v1/ops/summary");
  if (!reply.ok) throw new Error(`HTTP ${reply.status}`);
  const backlog = renderSummary(await reply.json());
  if (liveView) {
    const live = await api("/v1/ops/live");
    if (live.ok) renderLive(await live.json(), backlog);
    else if (live.status === 404) {
      liveView = false;
      say("This host has no live view (latency, fault windows): only the core's own numbers are shown.");
    }
  }
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
