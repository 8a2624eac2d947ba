// Forecast chart: recent hourly history (labelled by source) and the projected week.
(function () {
  "use strict";
  const element = document.getElementById("chart-forecast");
  if (!element || typeof Plotly === "undefined") { return; }
  function hoursFrom(start, offset, count) {
    const base = new Date(start).getTime();
    return Array.from({ length: count }, (_, i) => new Date(base + (offset + i) * 3600e3).toISOString());
  }
  fetch(element.dataset.url, { credentials: "same-origin" })
    .then((response) => response.json())
    .then((data) => {
      const traces = [];
      if (data.history.start) {
        traces.push({
          x: hoursFrom(data.history.start, data.history.offset_hours, data.history.counts.length),
          y: data.history.counts, mode: "lines",
          name: "requests/hour · " + (data.history.source === "generated" ? "generated (demo)" : "measured"),
          line: { dash: data.history.source === "generated" ? "dot" : "solid" },
        });
      }
      if (data.forecast.start) {
        traces.push({
          x: hoursFrom(data.forecast.start, 0, data.forecast.values.length),
          y: data.forecast.values, mode: "lines", name: "forecast · " + data.forecast.method,
          line: { dash: "dash" },
        });
      }
      Plotly.react(element, traces, {
        title: { text: "Requests per hour" }, margin: { t: 40, r: 10, l: 60, b: 40 },
        legend: { orientation: "h" }, yaxis: { rangemode: "tozero" },
      }, { displaylogo: false, responsive: true });
    });
})();
