// Relevance panel: online figures of the scope's own searches and the offline benchmark runs,
// refreshed from the panel's JSON endpoint like the performance charts.
(function () {
  "use strict";
  const root = document.getElementById("relevance");
  if (!root || typeof Plotly === "undefined") { return; }
  const status = document.getElementById("relevance-status");
  const refreshMs = 1000 * Number(root.dataset.refreshSeconds || 5);
  const missing = "\u2013";
  const formats = {
    searches: (v) => String(v),
    zero_result_rate: percent,
    click_through_rate: percent,
    mrr_first_click: score,
    p50_ms: (v) => (v === null ? missing : v.toFixed(1) + " ms"),
    p95_ms: (v) => (v === null ? missing : v.toFixed(1) + " ms"),
  };
  const plotConfig = { displaylogo: false, responsive: true };

  function percent(v) { return v === null ? missing : (v * 100).toFixed(1) + " %"; }
  function score(v) { return v === null || v === undefined ? missing : v.toFixed(3); }
  function utcMinute(iso) { return iso.slice(0, 16).replace("T", " ") + " UTC"; }

  function fillOnline(windows) {
    for (const row of root.querySelectorAll("tr[data-window]")) {
      const figures = windows[row.dataset.window];
      if (!figures) { continue; }
      for (const cell of row.querySelectorAll("td[data-field]")) {
        const format = formats[cell.dataset.field];
        if (format) { cell.textContent = format(figures[cell.dataset.field]); }
      }
    }
  }

  function drawOnline(hourly) {
    const element = document.getElementById("chart-relevance-online");
    if (!element) { return; }
    const line = (field, name) => ({
      x: hourly.t, y: hourly[field], name: name, mode: "lines+markers",
      marker: { size: 4 }, connectgaps: false,
    });
    Plotly.react(element, [
      { x: hourly.t, y: hourly.searches, name: "searches", type: "bar", yaxis: "y2",
        marker: { color: "rgba(120, 130, 150, 0.35)" } },
      line("click_through_rate", "click-through rate"),
      line("zero_result_rate", "zero-result rate"),
      line("mrr_first_click", "MRR of first click"),
    ], {
      title: { text: "Online relevance per hour, last 7 days (measured)" },
      margin: { t: 40, r: 60, l: 60, b: 40 }, legend: { orientation: "h" },
      yaxis: { title: { text: "share / MRR" }, range: [0, 1.05] },
      yaxis2: { title: { text: "searches" }, overlaying: "y", side: "right",
        rangemode: "tozero", showgrid: false },
    }, plotConfig);
  }

  function cell(text, numeric) {
    const td = document.createElement("td");
    td.textContent = text;
    if (numeric) { td.className = "num"; }
    return td;
  }

  function fillOffline(offline) {
    const body = root.querySelector("table.relevance-offline tbody");
    if (!body) { return; }  // nothing was recorded when the page was rendered
    body.replaceChildren(...offline.latest.map((run) => {
      const tr = document.createElement("tr");
      const byType = Object.entries(run.metrics_by_type)
        .map(([type, m]) => type + " " + score(m.mrr)).join(" · ");
      tr.append(cell(run.mode), cell(utcMinute(run.created_at)), cell(String(run.query_count), true),
        cell(score(run.metrics.mrr), true), cell(score(run.metrics.recall_at_1), true),
        cell(score(run.metrics.recall_at_k), true), cell(score(run.metrics.ndcg), true),
        cell(byType), cell(run.embedding_model));
      return tr;
    }));
  }

  function drawOffline(offline) {
    const element = document.getElementById("chart-relevance-offline");
    if (!element) { return; }
    if (!offline.corpus) { element.hidden = true; return; }
    element.hidden = false;
    const traces = [];
    for (const [mode, trend] of Object.entries(offline.trend)) {
      traces.push({ x: trend.t, y: trend.mrr, name: mode + " MRR@k", mode: "lines+markers" });
      traces.push({ x: trend.t, y: trend.ndcg, name: mode + " nDCG@k", mode: "lines+markers",
        line: { dash: "dot" } });
    }
    Plotly.react(element, traces, {
      title: { text: "Offline benchmark runs on " + offline.corpus + " (not your data)" },
      margin: { t: 40, r: 10, l: 60, b: 40 }, legend: { orientation: "h" },
      yaxis: { title: { text: "score" }, range: [0, 1.05] },
    }, plotConfig);
  }

  async function refresh() {
    try {
      const response = await fetch(root.dataset.url,
        { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      const data = await response.json();
      fillOnline(data.online.windows);
      drawOnline(data.online.hourly);
      fillOffline(data.offline);
      drawOffline(data.offline);
      status.textContent = "";
    } catch (error) {
      // Keep the last figures on screen and try again on the next tick.
      status.textContent = "refresh failed (" + error.message + "); retrying";
    }
  }

  refresh();
  setInterval(refresh, refreshMs);
})();
