"""Benchmark tables: Markdown ×100 with dashes for undefined values, flat CSV, strict JSON, judges side by side."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from src.eval.bench_report import cell, comparison_table, summary_markdown, write_comparison, write_summary
from src.eval.judge_bench import BenchPair, Prediction, score_critiques
from src.eval.matching import DeterministicMatcher


def small_summary() -> dict:
    err = {"type": "data_error", "category": "data_error", "severity": 2, "location": "bar 'A'", "description": "A low"}
    pairs = [
        BenchPair("a", "chart", Path("r.png"), Path("c.png"), (err,), {}),
        BenchPair("b", "chart", Path("r.png"), Path("d.png"), (), {}),
    ]
    return score_critiques(pairs, {"a": Prediction((err,)), "b": Prediction(())}, DeterministicMatcher()).summary


def test_cells_scale_metrics_and_keep_counts() -> None:
    assert cell("f1_hard", 0.4213) == "42.1"
    assert cell("severity_pearson", None) == "–"
    assert cell("pairs", 595) == "595" and cell("tp_soft", 1.5) == "1.5"


def test_markdown_csv_and_json_agree(tmp_path: Path) -> None:
    summary = small_summary()
    paths = write_summary(tmp_path, summary, [{"id": "a"}], title="tiny")
    md = paths["md"].read_text()
    assert md.startswith("# tiny") and "| chart | 2 | 100.0 | 100.0 | 100.0 |" in md
    assert "| chart | data_error |" in md  # the per-type table
    assert "| table | 0 | – |" in md  # no table pairs: no numbers
    rows = list(csv.DictReader(paths["csv"].open()))
    chart = next(r for r in rows if r["scope"] == "chart" and not r["type"])
    assert float(chart["f1_hard"]) == 1.0 and chart["pairs"] == "2"
    assert next(r for r in rows if r["scope"] == "table" and not r["type"])["f1_hard"] == ""
    assert json.loads(paths["json"].read_text())["chart"]["f1_hard"] == 1.0
    assert paths["per_pair"].read_text() == '{"id": "a"}\n'


def test_json_refuses_nan_rather_than_writing_invalid_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_summary(tmp_path, {"overall": {"severity_pearson": float("nan")}})


def test_comparison_puts_each_judge_on_one_row(tmp_path: Path) -> None:
    critique = small_summary()
    scalar = {s: {"pairs": 2, "f1_hard": None, "f1_soft": None, "severity_pearson": 0.5} for s in critique}
    markdown, rows = comparison_table({"erm": critique, "ssim": scalar})
    lines = markdown.splitlines()
    assert lines[0].startswith("| judge | chart F1h |") and lines[0].rstrip().endswith(
        "AVG Sc | AVG order (same ref) | AVG order (domain) |"
    )
    assert lines[2].startswith("| erm | 100.0 |") and lines[3].startswith("| ssim | – | – | 50.0 |")
    assert rows[1]["AVG Sc"] == 0.5
    paths = write_comparison(tmp_path, {"erm": critique})
    assert "| erm |" in paths["md"].read_text() and paths["csv"].read_text().startswith("judge,")


def test_markdown_of_a_scalar_summary_has_no_type_table() -> None:
    scalar = {s: {"pairs": 1, "f1_hard": None, "severity_pearson": None} for s in ("overall", "chart", "table", "svg")}
    md = summary_markdown(scalar)
    assert "Per error type" not in md and "| overall | 1 | – | – |" in md
