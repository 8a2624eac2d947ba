// Live performance charts: fetch the JSON endpoint every few seconds and redraw in place.
(function () {
  "use strict";
  const root = document.getElementById("charts");
  if (!root || typeof Plotly === "undefined") { return; }
  const status = document.getElementById("chart-status");
  let windowName = root.dataset.window;
  const refreshMs = 1000 * Number(root.dataset.refreshSeconds || 5);
  const sourceStyle = {
    measured: { label: "measured", dash: "solid" },
    generated: { label: "generated (demo)", dash: "dot" },
  };

  function traces(data, fields) {
    const out = [];
    for (const [source, series] of Object.entries(data.series)) {
      const style = sourceStyle[source] || { label: source, dash: "solid" };
      for (const [field, name, axis] of fields) {
        out.push({
          // Markers keep isolated minutes visible: a quiet tenant's series is mostly gaps.
          x: series.t, y: series[field], mode: "lines+markers", marker: { size: 4 },
          connectgaps: false, yaxis: axis || "y",
          name: name + " · " + style.label, line: { dash: style.dash },
        });
      }
    }
    return out;
  }

  // y2Axis: a second y axis on the right for fields marked "y2", for quantities whose units
  // and magnitudes differ (a vector count next to a byte count would flatten one of them).
  function draw(id, title, data, fields, yTitle, y2Axis) {
    const element = document.getElementById(id);
    if (!element) { return; }
    const layout = {
      title: { text: title }, margin: { t: 40, r: y2Axis ? 70 : 10, l: 60, b: 40 },
      yaxis: { title: { text: yTitle }, rangemode: "tozero" }, legend: { orientation: "h" },
    };
    if (y2Axis) {
      layout.yaxis2 = Object.assign(
        { overlaying: "y", side: "right", rangemode: "tozero", showgrid: false }, y2Axis);
    }
    Plotly.react(element, traces(data, fields), layout, { displaylogo: false, responsive: true });
  }

  function drawProcesses(data) {
    if (!data.processes) { return; }
    const t = data.series.measured.t;
    for (const [id, field, title, unit] of [
      ["chart-cpu", "cpu_cores", "CPU of web and worker processes (measured)", "cores"],
      ["chart-memory", "memory_bytes", "Memory of web and worker processes (measured)", "bytes"],
    ]) {
      const element = document.getElementById(id);
      if (!element) { continue; }
      const lines = Object.entries(data.processes).map(([role, values]) => (
        { x: t, y: values[field], mode: "lines+markers", marker: { size: 4 }, name: role }));
      Plotly.react(element, lines, {
        title: { text: title }, margin: { t: 40, r: 10, l: 60, b: 40 },
        yaxis: Object.assign({ title: { text: unit }, rangemode: "tozero", exponentformat: "SI" },
          unit === "bytes" ? { ticksuffix: "B" } : {}),
        legend: { orientation: "h" },
      }, { displaylogo: false, responsive: true });
    }
  }

  function render(data) {
    draw("chart-rate", "Search requests per second", data, [["requests_per_second", "req/s"]], "req/s");
    draw("chart-latency", "Search latency", data,
      [["p50_ms", "p50"], ["p95_ms", "p95"], ["p99_ms", "p99"]], "ms");
    draw("chart-errors", "Error rate", data, [["error_rate", "errors"]], "share of requests");
    draw("chart-cache", "Cache hit ratio (L1 + L2)", data, [["cache_hit_ratio", "hits"]], "share");
    draw("chart-indexing", "Indexing throughput", data, [["chunks_per_minute", "chunks/min"]], "chunks/min");
    draw("chart-vectors", "Vectors and storage", data,
      [["vectors", "vectors"], ["stored_bytes", "stored bytes", "y2"]], "vectors (count)",
      { title: { text: "stored (bytes)" }, exponentformat: "SI", ticksuffix: "B" });
    drawProcesses(data);
  }

  async function refresh() {
    try {
      const response = await fetch(root.dataset.url + "?window=" + encodeURIComponent(windowName),
        { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      const data = await response.json();
      render(data);
      status.textContent = "updated " + new Date().toLocaleTimeString() +
        " · " + data.resolution + " buckets";
    } catch (error) {
      status.textContent = "refresh failed (" + error.message + "); retrying";
    }
  }

  for (const link of document.querySelectorAll("a.window")) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      windowName = link.dataset.window;
      for (const other of document.querySelectorAll("a.window")) {
        other.classList.toggle("current", other === link);
      }
      history.replaceState(null, "", "?window=" + windowName);
      refresh();
    });
  }
  refresh();
  setInterval(refresh, refreshMs);
})();
