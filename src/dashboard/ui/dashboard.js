// The gateway's dashboard: polls GET /admin/dashboard every 2 s and renders it. No framework and
// nothing fetched from elsewhere. Every value goes into the page as text (textContent), never as
// markup: workload and model names come from clients and configuration.
"use strict";

(() => {
  const DATA_URL = "/admin/dashboard";
  const POLL_MS = 2000;
  const KEY_STORAGE = "hearth-admin-key";
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  let timer = null;

  // Cents, except below a cent, where a request's price lives: up to 6 decimals.
  function money(usd) {
    const amount = Math.abs(usd || 0);
    const digits = amount > 0 && amount < 0.01 ? amount.toFixed(6).replace(/0+$/, "") : null;
    return (usd < 0 ? "-$" : "$") + (digits ?? amount.toFixed(2));
  }
  const ms = (value, count) => (count > 0 ? value.toFixed(1) + " ms" : "–");
  const percent = (part, whole) => (whole > 0 ? ((100 * part) / whole).toFixed(1) + "%" : "–");
  const clock = (unixSeconds) => new Date(unixSeconds * 1000).toLocaleTimeString();

  function setText(id, value) {
    const element = $(id);
    if (element.textContent !== String(value)) element.textContent = String(value);
  }

  // A <tr> of plain-text cells; a cell may be {text, className} or a DOM node.
  function row(cells, attributes = {}) {
    const tr = document.createElement("tr");
    for (const [name, value] of Object.entries(attributes)) tr.setAttribute(name, value);
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell instanceof Node) {
        td.appendChild(cell);
      } else if (cell && typeof cell === "object") {
        td.textContent = cell.text;
        if (cell.className) td.className = cell.className;
      } else {
        td.textContent = cell === undefined || cell === null ? "–" : String(cell);
      }
      tr.appendChild(td);
    }
    return tr;
  }

  function replaceRows(tbodyId, rows, columns, emptyText) {
    const tbody = $(tbodyId);
    if (rows.length === 0) {
      const td = document.createElement("td");
      td.colSpan = columns;
      td.className = "empty";
      td.textContent = emptyText;
      const tr = document.createElement("tr");
      tr.appendChild(td);
      rows = [tr];
    }
    tbody.replaceChildren(...rows);
  }

  function badge(kind, text) {
    const span = document.createElement("span");
    span.className = "badge " + kind;
    span.textContent = text;
    return span;
  }

  function renderPlacement(live, month) {
    const totals = live.totals;
    setText("requests-total", totals.requests);
    setText("local-share", percent(totals.local, totals.local + totals.cloud));
    setText("cloud-spend", money(totals.cloud_cost_usd));
    setText("avoided-spend", money(totals.avoided_cost_usd));
    setText("placement-local", totals.local);
    setText("placement-cloud", totals.cloud);
    setText("placement-unplaced", totals.unplaced);
    setText("placement-errors", totals.errors);

    const bar = $("placement-bar");
    const parts = [["local", totals.local], ["cloud", totals.cloud], ["other", totals.unplaced]];
    const sum = parts.reduce((total, [, count]) => total + count, 0);
    bar.replaceChildren(...parts.filter(([, count]) => count > 0).map(([kind, count]) => {
      const div = document.createElement("div");
      div.className = kind;
      div.style.width = ((100 * count) / sum).toFixed(2) + "%";
      div.title = kind + ": " + count;
      return div;
    }));
    bar.setAttribute("aria-label", "placement split: " +
      parts.map(([kind, count]) => kind + " " + count).join(", "));

    const known = month && month.status === "ok";
    setText("month-cloud-spend", known ? money(month.cloud_cost_usd) : "–");
    setText("month-avoided-spend", known ? money(month.avoided_cost_usd) : "–");
    setText("month-local", known ? month.local : "–");
    setText("month-cloud", known ? month.cloud : "–");
    setText("month-unplaced", known ? month.unplaced : "–");
    setText("month-errors", known ? month.errors : "–");
    if (month && month.status !== "ok") {
      setText("month-label", "cloud spend this month (" + month.status + ")");
    } else {
      setText("month-label", "cloud spend this month");
    }
  }

  // Stacked bars per 10-second bucket, local at the bottom.
  function renderSeries(series) {
    const buckets = series.buckets;
    const width = 600;
    const height = 90;
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "requests per " + series.bucket_seconds + " s, last 10 minutes");
    const top = Math.max(1, ...buckets.map((b) => b.local + b.cloud + b.unplaced));
    const slot = width / buckets.length;
    const base = document.createElementNS(SVG_NS, "line");
    base.setAttribute("x1", 0);
    base.setAttribute("x2", width);
    base.setAttribute("y1", height - 0.5);
    base.setAttribute("y2", height - 0.5);
    svg.appendChild(base);
    buckets.forEach((bucket, index) => {
      let y = height;
      for (const [kind, count] of [["local", bucket.local], ["cloud", bucket.cloud],
        ["other", bucket.unplaced]]) {
        if (count <= 0) continue;
        const h = (height - 4) * count / top;
        y -= h;
        const rect = document.createElementNS(SVG_NS, "rect");
        rect.setAttribute("class", kind);
        rect.setAttribute("x", (index * slot + slot * 0.1).toFixed(1));
        rect.setAttribute("y", y.toFixed(1));
        rect.setAttribute("width", (slot * 0.8).toFixed(1));
        rect.setAttribute("height", h.toFixed(1));
        const title = document.createElementNS(SVG_NS, "title");
        title.textContent = `${clock(bucket.start)} ${kind}: ${count}`;
        rect.appendChild(title);
        svg.appendChild(rect);
      }
    });
    $("series-chart").replaceChildren(svg);
  }

  function renderLatency(latency) {
    setText("latency-window", latency.window);
    const rows = ["local", "cloud", "all"].map((placement) => {
      const summary = latency[placement];
      return row([placement, summary.count, ms(summary.p50_ms, summary.count),
        ms(summary.p95_ms, summary.count)], { "data-placement": placement });
    });
    replaceRows("latency-rows", rows, 4, "");
  }

  function renderWorkers(workers) {
    const rows = workers.map((worker) => row([
      worker.model,
      worker.kind,
      { text: worker.state, className: "state " + worker.state },
      worker.in_flight,
      worker.queue_depth,
      worker.busy_slots === undefined ? undefined : `${worker.busy_slots} / ${worker.slots}`,
      worker.restarts,
      worker.circuit,
      { text: worker.last_error || "", className: "error" },
    ], { "data-model": worker.model }));
    replaceRows("worker-rows", rows, 9, "no models configured");
  }

  function renderWorkloads(workloads, total) {
    const rows = workloads.map((workload) => row([
      workload.workload === "" ? "(none)" : workload.workload,
      workload.requests,
      percent(workload.requests, total),
      workload.local,
      workload.cloud,
      workload.errors,
      money(workload.cloud_cost_usd),
      money(workload.avoided_cost_usd),
    ], { "data-workload": workload.workload }));
    replaceRows("workload-rows", rows, 8, "no requests yet");
  }

  function renderRecommendations(recommendations) {
    let status;
    switch (recommendations.status) {
      case "ready":
        status = `Over the last ${recommendations.window_days} days of the ledger ` +
          `(${recommendations.records} records), computed at ${clock(recommendations.computed_at)}.`;
        break;
      case "computing":
        status = "computing…";
        break;
      case "unavailable":
        status = "No ledger: the advisor has nothing to read (ledger.store: off).";
        break;
      default:
        status = "The advisor failed: " + (recommendations.error || "unknown error");
    }
    setText("recommendations-status", status);
    if (recommendations.status !== "ready" && recommendations.items.length === 0) {
      replaceRows("recommendation-rows", [], 7, "–");
      return;
    }
    const rows = recommendations.items.map((item) => row([
      item.workload === "" ? "(none)" : item.workload,
      badge(item.recommendation, item.recommendation_words),
      item.monthly_requests.toFixed(1),
      money(item.current_monthly_cloud_spend_usd),
      money(item.projected_monthly_cost_usd),
      item.break_even_month !== null ? "month " + item.break_even_month
        : (item.break_even_never ? "never" : "–"),
      item.reasons.join(" "),
    ], { "data-workload": item.workload, "data-recommendation": item.recommendation }));
    replaceRows("recommendation-rows", rows, 7, "no workloads in the ledger yet");
  }

  function render(data) {
    renderPlacement(data.live, data.month);
    renderSeries(data.live.series);
    renderLatency(data.live.latency);
    renderWorkers(data.workers);
    renderWorkloads(data.live.workloads, data.live.totals.requests);
    renderRecommendations(data.recommendations);
    const status = $("status");
    status.className = "status live";
    status.textContent = "live, updated " + clock(data.now);
  }

  function askForKey(message) {
    clearTimeout(timer);
    $("dashboard").hidden = true;
    $("key-form").hidden = false;
    if (message) setText("key-message", message);
    $("key-input").focus();
  }

  async function poll() {
    clearTimeout(timer);
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.Authorization = "Bearer " + key;
    try {
      const response = await fetch(DATA_URL, { headers, cache: "no-store" });
      if (response.status === 401 || response.status === 403) {
        let message = "This gateway needs an API key with the admin scope.";
        try {
          message = (await response.json()).error.message;
        } catch (ignored) { /* the default message */ }
        if (key) sessionStorage.removeItem(KEY_STORAGE);
        askForKey(message);
        return;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      $("key-form").hidden = true;
      $("dashboard").hidden = false;
      render(data);
    } catch (error) {
      const status = $("status");
      status.className = "status down";
      status.textContent = "cannot reach the gateway (" + error.message + "); retrying";
    }
    timer = setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY_STORAGE, $("key-input").value.trim());
      $("key-input").value = "";
      $("key-form").hidden = true;
      poll();
    });
    poll();
  });
})();
