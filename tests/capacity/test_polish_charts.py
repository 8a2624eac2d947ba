"""The live charts put quantities with different units on different y axes.

charts.js runs under Node with a stand-in for Plotly and the DOM, and the test reads the
layout and traces it would hand to Plotly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

CHARTS_JS = Path(__file__).resolve().parents[2] / "static" / "capacity" / "charts.js"

HARNESS = """
const calls = {};
const elements = {};
function el(id) { return elements[id] || (elements[id] = { id, dataset: {}, textContent: "" }); }
el("charts").dataset = { url: "/data", window: "hour", refreshSeconds: "5" };
for (const id of ["chart-status", "chart-vectors", "chart-memory", "chart-rate"]) { el(id); }
global.document = { getElementById: (id) => elements[id] || null, querySelectorAll: () => [] };
global.history = { replaceState() {} };
global.setInterval = () => 0;
global.Plotly = { react: (element, traces, layout) => { calls[element.id] = { traces, layout }; } };
global.fetch = async () => ({ ok: true, json: async () => ({
  resolution: "minute",
  series: { measured: { t: [1, 2], vectors: [1200, 1500], stored_bytes: [3.1e8, 3.9e8],
                        requests_per_second: [1, 2] } },
  processes: { web: { cpu_cores: [0.1, 0.2], memory_bytes: [2e8, 3e8] } } }) });
require(process.argv[2]);
setTimeout(() => { process.stdout.write(JSON.stringify(calls)); }, 50);
"""


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed; charts.js cannot run outside a browser")
    harness = tmp_path_factory.mktemp("charts") / "harness.js"
    harness.write_text(HARNESS)
    result = subprocess.run(
        [node, str(harness), str(CHARTS_JS)], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_vectors_and_stored_bytes_get_separate_labelled_axes(drawn):
    chart = drawn["chart-vectors"]
    axes = {trace["name"].split(" · ")[0]: trace["yaxis"] for trace in chart["traces"]}

    assert axes == {"vectors": "y", "stored bytes": "y2"}
    assert chart["layout"]["yaxis"]["title"]["text"] == "vectors (count)"
    second = chart["layout"]["yaxis2"]
    assert second["title"]["text"] == "stored (bytes)"
    assert (second["overlaying"], second["side"], second["ticksuffix"]) == ("y", "right", "B")


def test_single_unit_charts_keep_one_axis(drawn):
    chart = drawn["chart-rate"]

    assert {trace["yaxis"] for trace in chart["traces"]} == {"y"}
    assert "yaxis2" not in chart["layout"]
    assert drawn["chart-memory"]["layout"]["yaxis"]["ticksuffix"] == "B"
