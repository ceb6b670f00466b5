"""Chart traces: recorded in the sandboxed child, describing exactly the figure whose pixels come back."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from src.render import RenderJob, RenderPool
from src.render.cache import RenderCache
from src.render.chart_trace import MAX_TRACE_BYTES, TraceError, fit_trace, read_trace

TWO_PANELS = """
import matplotlib.pyplot as plt
import numpy as np

fig, axes = plt.subplots(1, 2, figsize=(6, 3))
axes[0].bar(["a", "b", "c"], [3, 5, 2], color="#4C72B0", label="2023")
axes[0].set_title("Revenue")
axes[0].legend()
axes[1].hist(np.arange(20) % 7, color="tab:orange")
axes[1].plot([0, 1, 2], [1, 2, 3], color="green")
extra = axes[0].bar(["a"], [1])
extra[0].set_color("red")
"""


def test_trace_records_text_layout_calls_and_final_colours(pool: RenderPool) -> None:
    (result,) = pool.render([RenderJob("chart", TWO_PANELS, trace=True)])
    assert result.ok, result.message
    trace = read_trace(result.trace)
    assert {"a", "b", "c", "Revenue", "2023"} <= set(trace.texts)
    assert sorted(trace.layout) == [(1, 2, 0, 1, 0, 1), (1, 2, 0, 1, 1, 2)]
    assert sorted(trace.plot_calls) == ["bar", "bar", "hist", "plot"]  # hist's inner bar calls are not counted
    assert set(trace.colours) == {("bar", "#4c72b0"), ("bar", "#ff0000"), ("hist", "#ff7f0e"), ("plot", "#008000")}


def test_trace_is_of_the_saved_figure_and_absent_without_asking(pool: RenderPool) -> None:
    code = """
import matplotlib.pyplot as plt
plt.figure(); plt.pie([1, 2]); plt.title("saved"); plt.savefig("a.png")
plt.figure(); plt.bar([1], [2]); plt.title("current")
"""
    traced, plain, broken = pool.render(
        [
            RenderJob("chart", code, trace=True),
            RenderJob("chart", code),
            RenderJob("chart", "import matplotlib\nx = 1 / 0", trace=True),
        ]
    )
    assert traced.ok and plain.ok
    assert plain.trace is None
    trace = read_trace(traced.trace)
    assert "saved" in trace.texts and "current" not in trace.texts  # the figure whose pixels came back
    assert trace.plot_calls == ("pie",)
    assert not broken.ok and broken.trace is None and broken.error_kind == "runtime"


def test_cache_never_serves_a_traced_job(pool: RenderPool, tmp_path) -> None:
    cache = RenderCache(tmp_path)
    job = RenderJob("chart", TWO_PANELS, trace=True)
    (result,) = pool.render([job])
    cache.put(job, result)
    assert cache.get(job) is None
    assert job.cache_key() != RenderJob("chart", TWO_PANELS).cache_key()
    assert RenderJob("chart", "x", trace="yes").problem() is not None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {"texts": "abc", "layout": [], "plot_calls": [], "colours": []},
        {"texts": [], "layout": [[1, 2]], "plot_calls": [], "colours": []},
        {"texts": [], "layout": [], "plot_calls": [], "colours": [["bar", "red"]]},
        {"texts": ["x" * 70_000], "layout": [], "plot_calls": [], "colours": []},
    ],
)
def test_forged_traces_are_refused_with_a_reason(raw: object) -> None:
    with pytest.raises(TraceError, match="trace"):
        read_trace(raw)


@pytest.fixture(scope="module")
def roomy_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RenderPool]:
    """Laying out ~9,000 characters of text takes ~3 s on a busy 2-core machine: past the shared pool's limit."""
    with RenderPool(workers=1, timeout_s=30, scratch_dir=str(tmp_path_factory.mktemp("roomy"))) as pool:
        yield pool


def test_a_trace_too_large_for_the_header_is_shortened_not_a_crash(roomy_pool: RenderPool) -> None:
    # 110 texts of 80 accented characters: ~53 KB of escaped JSON, past the 48 KB budget
    code = """
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.axis("off")
for i in range(110):
    ax.text(0, i / 110, "é" * 77 + f"{i:03d}", fontsize=1)
"""
    (result,) = roomy_pool.render([RenderJob("chart", code, trace=True)])
    assert result.ok, result.message
    assert result.trace is not None and result.trace.get("truncated") is True
    trace = read_trace(result.trace)
    assert 0 < len(trace.texts) < 110 and all(t.startswith("é") for t in trace.texts)
    assert len(json.dumps(result.trace)) <= MAX_TRACE_BYTES


def test_fit_trace_halves_the_longest_list_until_it_fits() -> None:
    trace = {"texts": ["ü" * 80] * 200, "layout": [[1, 1, 0, 1, 0, 1]], "plot_calls": ["bar"], "colours": []}
    fitted = fit_trace(dict(trace), budget=10_000)
    assert len(json.dumps(fitted)) <= 10_000 and fitted["truncated"] is True
    assert len(fitted["texts"]) == 200 // 16 and fitted["layout"] == trace["layout"]
    assert "truncated" not in fit_trace({"texts": ["a"], "layout": [], "plot_calls": [], "colours": []})
