"""tools/render.py end to end: a JSONL of jobs to PNGs plus a failure summary, exit code 0."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.render.conftest import ICON_SVG, LINE_CHART

_SPEC = importlib.util.spec_from_file_location("render_tool", Path(__file__).parents[2] / "tools" / "render.py")
render_tool = importlib.util.module_from_spec(_SPEC)  # type: ignore[arg-type]
_SPEC.loader.exec_module(render_tool)  # type: ignore[union-attr]


def test_jsonl_renders_named_pngs_and_summarizes_failures(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = [
        {"domain": "chart", "source": LINE_CHART, "id": "line chart"},
        {"domain": "svg", "source": ICON_SVG, "max_side": 100},
        {"domain": "chart", "source": "plt.plot([1, 2]"},
    ]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code = render_tool.main([str(jobs), "--out", str(tmp_path / "out"), "--workers", "1", "--timeout-s", "5"])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["2.png", "line_chart.png"]
    out = capsys.readouterr().out
    assert "rendered 2/3" in out and "syntax" in out and "3:" in out


def test_unknown_extension_and_bad_rows_are_clear_errors(tmp_path: Path) -> None:
    odd = tmp_path / "chart.txt"
    odd.write_text(LINE_CHART)
    with pytest.raises(SystemExit, match="--domain"):
        render_tool.read_jobs(odd, None)
    assert render_tool.read_jobs(odd, "chart")[0][1].domain == "chart"
    bad = tmp_path / "jobs.jsonl"
    bad.write_text('{"domain": "chart"}\n')
    with pytest.raises(SystemExit, match=r"jobs.jsonl:1"):
        render_tool.read_jobs(bad, None)
