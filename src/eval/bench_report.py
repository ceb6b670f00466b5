"""Judge-benchmark tables for people and for spreadsheets: ``summary.json``, ``summary.md``, ``summary.csv``.

Markdown shows metrics ×100 with one decimal, as the paper's tables do (Visual-ERM 8B: AVG F1h 42.1, F1s 44.7,
Sc 58.4); JSON and CSV keep the raw values in [0, 1] (Pearson in [-1, 1]). ``comparison_table`` puts several
judges — critique judges and scalar rewards alike — in one table, one row per judge.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from src.render.job import DOMAINS

SCOPES: tuple[str, ...] = ("overall", *DOMAINS)
# Columns of the main table: (summary key, header).
MAIN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("pairs", "pairs"),
    ("f1_hard", "F1h"),
    ("f1_soft", "F1s"),
    ("severity_pearson", "Sc"),
    ("ordering_same_reference", "order (same ref)"),
    ("ordering_within_domain", "order (domain)"),
    ("parse_failures", "parse failures"),
    ("match_failures", "match failures"),
)
TYPE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("f1_hard", "F1h"),
    ("f1_soft", "F1s"),
    ("severity_pearson", "Sc"),
    ("tp_hard", "TP"),
    ("tp_soft", "TP soft"),
    ("fp", "FP"),
    ("fn", "FN"),
)
_COUNT_KEYS = {"pairs", "parse_failures", "match_failures", "tp_hard", "tp_soft", "fp", "fn"}


def cell(key: str, value: Any) -> str:
    """A value as the Markdown table shows it: counts as they are, metrics ×100, missing as an en dash."""
    if value is None:
        return "–"
    if key in _COUNT_KEYS:
        return f"{value:g}" if isinstance(value, float) else str(value)
    return f"{100 * value:.1f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(summary: Mapping[str, Any], title: str = "Judge benchmark") -> str:
    """The main table (pooled and per domain) and, for critique judges, the per-type table of each domain."""
    columns = [(k, h) for k, h in MAIN_COLUMNS if any(k in summary.get(s, {}) for s in SCOPES)]
    rows = [[scope, *(cell(k, summary[scope].get(k)) for k, _ in columns)] for scope in SCOPES if scope in summary]
    parts = [f"# {title}", "", "Metrics ×100. " + _legend(), "", _table(["scope", *(h for _, h in columns)], rows)]
    type_rows = []
    for domain in DOMAINS:
        for name, entry in (summary.get(domain, {}).get("by_type") or {}).items():
            type_rows.append([domain, name, *(cell(k, entry.get(k)) for k, _ in TYPE_COLUMNS)])
    if type_rows:
        parts += ["", "## Per error type", "", _table(["domain", "type", *(h for _, h in TYPE_COLUMNS)], type_rows)]
    return "\n".join(parts) + "\n"


def _legend() -> str:
    return (
        "F1h: only full matches count; F1s: a partial match counts 0.5; Sc: Pearson correlation of per-pair severity "
        "sums (scalar rewards: of the negated reward); order: share of candidate pairs with different reference "
        "severity that the judge ranks correctly (same reference image / same domain)."
    )


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flat rows (scope, type, metrics) for CSV: one per scope, then one per (domain, error type)."""
    keys = [k for k, _ in MAIN_COLUMNS]
    rows: list[dict[str, Any]] = []
    for scope in SCOPES:
        if scope in summary:
            rows.append({"scope": scope, "type": "", **{k: summary[scope].get(k) for k in keys}})
    for domain in DOMAINS:
        for name, entry in (summary.get(domain, {}).get("by_type") or {}).items():
            rows.append({"scope": domain, "type": name, **{k: entry.get(k) for k, _ in TYPE_COLUMNS}})
    return rows


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in fields})
    return buf.getvalue()


def write_summary(
    out_dir: str | Path,
    summary: Mapping[str, Any],
    per_pair: Sequence[Mapping[str, Any]] = (),
    title: str = "Judge benchmark",
) -> dict[str, Path]:
    """Write ``summary.json``, ``summary.md``, ``summary.csv`` (and ``per_pair.jsonl`` when given); return paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"summary.{name}" for name in ("json", "md", "csv")}
    _write(paths["json"], json.dumps(summary, ensure_ascii=False, indent=2, allow_nan=False) + "\n")
    _write(paths["md"], summary_markdown(summary, title))
    _write(paths["csv"], _csv(summary_rows(summary)))
    if per_pair:
        paths["per_pair"] = out / "per_pair.jsonl"
        _write(paths["per_pair"], "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in per_pair))
    return paths


def comparison_table(summaries: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """One row per judge: F1h, F1s and Sc per domain and pooled (AVG), then pooled ordering accuracy (the columns a
    scalar reward has), as Markdown and as CSV rows."""
    header = ["judge"]
    for scope in (*DOMAINS, "overall"):
        label = "AVG" if scope == "overall" else scope
        header += [f"{label} F1h", f"{label} F1s", f"{label} Sc"]
    header += ["AVG order (same ref)", "AVG order (domain)"]
    md_rows, csv_rows = [], []
    for name, summary in summaries.items():
        md_row, csv_row = [name], {"judge": name}
        for scope in (*DOMAINS, "overall"):
            label = "AVG" if scope == "overall" else scope
            entry = summary.get(scope, {})
            for key, short in (("f1_hard", "F1h"), ("f1_soft", "F1s"), ("severity_pearson", "Sc")):
                md_row.append(cell(key, entry.get(key)))
                csv_row[f"{label} {short}"] = entry.get(key)
        for key, label in (
            ("ordering_same_reference", "AVG order (same ref)"),
            ("ordering_within_domain", "AVG order (domain)"),
        ):
            value = summary.get("overall", {}).get(key)
            md_row.append(cell(key, value))
            csv_row[label] = value
        md_rows.append(md_row)
        csv_rows.append(csv_row)
    return _table(header, md_rows) + "\n", csv_rows


def write_comparison(out_dir: str | Path, summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    markdown, rows = comparison_table(summaries)
    paths = {"md": out / "comparison.md", "csv": out / "comparison.csv"}
    _write(paths["md"], "# Judges on one benchmark\n\nMetrics ×100. " + _legend() + "\n\n" + markdown)
    _write(paths["csv"], _csv(rows))
    return paths


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
