"""A static HTML report of a policy evaluation and/or a training run: what a newcomer opens first.

Per sample: the reference, the candidate render (or why it did not render), a heatmap of where the two differ, and
the judge's critique (category, severity, location, description) with the sample's metrics. Plots drawn with
matplotlib: metrics by domain, severity histograms of the critiques, reward over steps (training runs), and the
reward-hacking probe table when ``probes.json`` is given.

Inputs are the files the tools already write, so a report can be made at any time after a run:
- an evaluation folder from ``tools/eval_policy.py`` (``summary.json``, ``samples.jsonl``, ``images/``);
- a training run folder: every ``metrics.csv`` below it (Lightning's CSVLogger) and the rollout callback's sample
  dumps (``rollout_samples/step*/samples.jsonl`` with their PNGs);
- ``probes.json`` from ``tools/probe_rewards.py``.

Why static files and no JavaScript: the report must open from a file system, a CI artefact or an e-mail, without a
server, and show the same thing everywhere. Images are linked by relative path (evaluation images are not copied);
plots and heatmaps go to ``<report>_assets/`` next to the HTML. All text from runs (model answers, critiques) is
HTML-escaped: it is untrusted.
"""

from __future__ import annotations

import csv
import html
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from PIL import Image

from src.reward.parse import CritiqueParseError, parse_critique

SEVERITY_NAMES = {1: "minor", 2: "medium", 3: "severe"}
HEATMAP_SIDE = 384  # px: enough to see where two renders differ, small enough for hundreds of samples


class ReportError(ValueError):
    """A folder or file that is not what the report reads; names it and says what is missing."""


@dataclass
class ReportSample:
    """One row of the report, whatever run it came from."""

    title: str
    domain: str
    reference: Path | None
    candidate: Path | None
    render_error: str | None = None
    critique: list[dict[str, Any]] | None = None
    critique_note: str | None = None  # why there is no critique (did not parse, no judge)
    metrics: dict[str, float] = field(default_factory=dict)
    reward: float | None = None
    answer: str = ""


def difference_map(reference: Image.Image, candidate: Image.Image, side: int = HEATMAP_SIDE) -> np.ndarray:
    """Per-pixel mean absolute RGB difference in [0, 1] at the reference's aspect, longest side ``side``.

    The candidate is resized to the reference's size first: a render of the wrong size still shows where it differs.
    """
    scale = min(1.0, side / max(reference.size))
    size = (max(1, round(reference.width * scale)), max(1, round(reference.height * scale)))
    ref = np.asarray(reference.convert("RGB").resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    cand = np.asarray(candidate.convert("RGB").resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    return np.abs(ref - cand).mean(axis=2) / 255.0  # [height, width]


def write_report(
    out: Path,
    evaluation_dir: Path | None = None,
    run_dir: Path | None = None,
    probes_json: Path | None = None,
    max_samples: int = 60,
    title: str = "Visual-ERM report",
) -> Path:
    """Write ``out`` (HTML) and its assets folder from whichever inputs are given; returns ``out``."""
    if evaluation_dir is None and run_dir is None and probes_json is None:
        raise ReportError("nothing to report: give an evaluation folder, a training run folder or probes.json")
    out = Path(out)
    assets = out.parent / f"{out.stem}_assets"
    assets.mkdir(parents=True, exist_ok=True)
    sections: list[str] = []
    samples: list[ReportSample] = []
    if evaluation_dir is not None:
        summary, config, eval_samples = _read_evaluation(Path(evaluation_dir))
        samples += eval_samples
        sections.append(_evaluation_section(summary, config, assets, out.parent))
    if run_dir is not None:
        steps, run_samples = _read_run(Path(run_dir))
        samples += run_samples
        sections.append(_run_section(steps, assets, out.parent))
    if probes_json is not None:
        sections.append(_probe_section(_read_json(Path(probes_json)), assets, out.parent))
    if samples:
        sections.append(_severity_section(samples, assets, out.parent))
        sections.append(_samples_section(samples[:max_samples], len(samples), assets, out.parent))
    out.write_text(_page(title, sections), encoding="utf-8")
    return out


def write_evaluation_report(evaluation_dir: Path, probes_json: Path | None = None, max_samples: int = 60) -> Path:
    """``evaluation_dir/report.html`` for a ``tools/eval_policy.py`` output folder."""
    return write_report(Path(evaluation_dir) / "report.html", evaluation_dir=evaluation_dir, probes_json=probes_json,
                        max_samples=max_samples, title="Policy evaluation")  # fmt: skip


# --- reading runs ----------------------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ReportError(f"{path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not valid JSON: {exc}") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReportError(f"{path}:{line_no}: not valid JSON: {exc}") from None
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _existing(folder: Path, relative: object) -> Path | None:
    if not isinstance(relative, str) or not relative:
        return None
    path = folder / relative
    return path if path.is_file() else None


def _read_evaluation(folder: Path) -> tuple[dict, dict, list[ReportSample]]:
    payload = _read_json(folder / "summary.json")
    if not isinstance(payload, dict) or not isinstance(payload.get("summary"), dict):
        raise ReportError(f"{folder / 'summary.json'}: expected {{'summary': ..., 'config': ...}}")
    if not (folder / "samples.jsonl").is_file():
        raise ReportError(f"{folder} has no samples.jsonl (not an eval_policy output folder)")
    samples = []
    for row in _read_jsonl(folder / "samples.jsonl"):
        samples.append(
            ReportSample(
                title=str(row.get("id", "")),
                domain=str(row.get("domain", "")),
                reference=_existing(folder, row.get("reference_image")),
                candidate=_existing(folder, row.get("candidate_image")),
                render_error=None if row.get("executed") else f"{row.get('error_kind')}: {row.get('message', '')}",
                critique=row.get("critique") if isinstance(row.get("critique"), list) else None,
                critique_note=row.get("critique_error")
                or (None if row.get("judge_reward") is not None else "no judge"),
                metrics={k: v for k, v in (row.get("metrics") or {}).items() if isinstance(v, int | float)},
                reward=row.get("judge_reward"),
                answer=str(row.get("answer", "")),
            )
        )
    return payload["summary"], payload.get("config") or {}, samples


def _read_run(folder: Path) -> tuple[dict[str, list[tuple[int, float]]], list[ReportSample]]:
    """Reward-like series by step from every ``metrics.csv`` below ``folder``, and the rollout sample dumps."""
    if not folder.is_dir():
        raise ReportError(f"training run folder {folder} does not exist")
    series: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.rglob("metrics.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                step = row.get("step")
                for name, value in row.items():
                    if not value or step in (None, "") or not _is_reward_series(name):
                        continue
                    try:
                        number = float(value)
                    except ValueError:
                        continue
                    if math.isfinite(number):
                        series.setdefault(name, []).append((int(float(step)), number))
    samples = []
    for dump in sorted(folder.rglob("rollout_samples/*/samples.jsonl")):
        group = -1  # the callback writes each group's rollouts 0..n-1 in turn and names files g{group}-{rollout}
        for row in _read_jsonl(dump):
            rollout = row.get("rollout", 0) if isinstance(row.get("rollout"), int) else 0
            group += rollout == 0
            domain = str(row.get("domain", ""))
            critique, note = _critique_from_text(row.get("critique"), domain)
            samples.append(
                ReportSample(
                    title=f"step {row.get('step')} · {row.get('prompt_id')} · rollout {rollout}",
                    domain=domain,
                    reference=_existing(dump.parent, f"g{group}-reference.png"),
                    candidate=_existing(dump.parent, f"g{group}-{rollout}.png"),
                    render_error=None if row.get("rendered") else str(row.get("render_error")),
                    critique=critique,
                    critique_note=note,
                    reward=row.get("reward") if isinstance(row.get("reward"), int | float) else None,
                    answer=str(row.get("completion", "")),
                )
            )
    if not series and not samples:
        raise ReportError(f"{folder}: no metrics.csv and no rollout_samples below it (not a training run folder)")
    return {k: sorted(v) for k, v in series.items()}, samples


def _is_reward_series(name: str) -> bool:
    """Reward values (``rollout/reward_mean``, ``reward/...``), not the time spent computing them."""
    return "reward" in name and "seconds" not in name


def _critique_from_text(text: object, domain: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    if not isinstance(text, str):
        return None, "no critique (not rendered, or a scalar reward)"
    try:
        critique = parse_critique(text, domain)
    except (CritiqueParseError, ValueError) as exc:
        return None, f"critique did not parse: {exc}"
    return [{"category": e.category, "severity": e.severity, "location": e.location,
             "description": e.description} for e in critique.errors], None  # fmt: skip


# --- plots -----------------------------------------------------------------------------------------------------------


def _figure(width: float = 6.4, height: float = 3.4) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Any, assets: Path, name: str, html_dir: Path) -> str:
    path = assets / name
    fig.savefig(path, format="png")
    return _href(path, html_dir)


def _href(path: Path, html_dir: Path) -> str:
    return quote(os.path.relpath(path, html_dir).replace(os.sep, "/"))


def _metrics_plot(summary: dict, assets: Path, html_dir: Path) -> str | None:
    domains = [d for d in ("chart", "table", "svg") if d in summary]
    if not domains:
        return None
    fig = _figure(7.5, 3.2)
    axes = fig.subplots(1, len(domains), squeeze=False)[0]
    for ax, domain in zip(axes, domains, strict=True):
        entry = summary[domain]
        names = [k for k, v in entry.items() if k not in ("samples", "missing") and isinstance(v, int | float)]
        values = [100 * entry[k] for k in names]
        ax.barh(names, values, color="#4C72B0")
        ax.set_xlim(0, 100)
        ax.invert_yaxis()
        ax.set_title(f"{domain} ({entry.get('samples', 0)})")
        ax.tick_params(labelsize=8)
    fig.suptitle("Metrics by domain (×100; mse and edit_distance: lower is better)", fontsize=10)
    return _save(fig, assets, "metrics_by_domain.png", html_dir)


def _severity_plot(samples: list[ReportSample], assets: Path, html_dir: Path) -> str | None:
    counts: Counter[tuple[str, int]] = Counter()
    for sample in samples:
        for error in sample.critique or []:
            severity = error.get("severity")
            if severity in SEVERITY_NAMES:
                counts[(str(error.get("category", "?")), int(severity))] += 1
    if not counts:
        return None
    categories = sorted({c for c, _ in counts})
    fig = _figure(6.4, 3.0)
    ax = fig.subplots()
    bottom = np.zeros(3)
    for category in categories:
        heights = np.array([counts[(category, s)] for s in (1, 2, 3)], dtype=float)
        ax.bar([SEVERITY_NAMES[s] for s in (1, 2, 3)], heights, bottom=bottom, label=category)
        bottom += heights
    ax.set_ylabel("errors")
    ax.set_title("Critique severities by category")
    ax.legend(fontsize=8)
    return _save(fig, assets, "severity_histogram.png", html_dir)


def _reward_plot(series: dict[str, list[tuple[int, float]]], assets: Path, html_dir: Path) -> str | None:
    if not series:
        return None
    fig = _figure()
    ax = fig.subplots()
    for name, points in series.items():
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, marker="o" if len(points) < 30 else None, label=name)
    ax.set_xlabel("step")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("reward")
    ax.set_title("Reward over steps")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, assets, "reward_over_steps.png", html_dir)


def _heatmap(sample: ReportSample, index: int, assets: Path, html_dir: Path) -> str | None:
    if sample.reference is None or sample.candidate is None:
        return None
    with Image.open(sample.reference) as reference, Image.open(sample.candidate) as candidate:
        diff = difference_map(reference, candidate)
    height, width = diff.shape
    fig = _figure(max(2.0, 3.2 * width / max(height, width)) + 0.8, max(2.0, 3.2 * height / max(height, width)))
    ax = fig.subplots()
    # Scaled to this pair's largest difference (at least 0.05, so identical renders stay dark): small shifts show.
    image = ax.imshow(diff, cmap="magma", vmin=0.0, vmax=max(0.05, float(diff.max())))
    ax.set_axis_off()
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(f"mean |Δ| = {diff.mean():.3f}", fontsize=9)
    return _save(fig, assets, f"diff-{index:05d}.png", html_dir)


# --- HTML ------------------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1400px;color:#222}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #ccc;padding:.25rem .5rem;font-size:.9rem}
th{background:#f4f4f4} .num{text-align:right;font-variant-numeric:tabular-nums}
.sample{border:1px solid #ddd;border-radius:6px;padding:.8rem;margin:1rem 0}
.images{display:flex;gap:1rem;flex-wrap:wrap;align-items:flex-start}
.images figure{margin:0} .images img{max-width:380px;max-height:320px;border:1px solid #eee}
figcaption{font-size:.8rem;color:#666} .fail{color:#b00;font-weight:600}
.sev1{background:#fff8e1} .sev2{background:#ffe0b2} .sev3{background:#ffcdd2}
pre{background:#f7f7f7;padding:.5rem;max-height:300px;overflow:auto;font-size:.8rem}
.plots img{max-width:100%;margin:.5rem 0}
"""


def _page(title: str, sections: list[str]) -> str:
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def _img(src: str | None, alt: str) -> str:
    return f'<img src="{html.escape(src)}" alt="{html.escape(alt)}">' if src else ""


def _number(value: object) -> str:
    if not isinstance(value, int | float) or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.1f}"


def _evaluation_section(summary: dict, config: dict, assets: Path, html_dir: Path) -> str:
    metric_names: list[str] = []
    for entry in summary.values():
        metric_names += [k for k in entry if k not in ("samples", "missing") and k not in metric_names]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in metric_names)
    rows = []
    for domain, entry in summary.items():
        cells = "".join(f'<td class="num">{_number(entry[n]) if n in entry else ""}</td>' for n in metric_names)
        rows.append(f"<tr><td>{html.escape(domain)}</td><td class=num>{entry.get('samples', '')}</td>{cells}</tr>")
    plot = _metrics_plot(summary, assets, html_dir)
    described = ", ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in config.items() if v)
    return (
        "<h2>Metrics</h2>"
        f"<p>{described}</p>"
        f"<table><tr><th>domain</th><th>samples</th>{head}</tr>{''.join(rows)}</table>"
        "<p>Values ×100; mse and edit_distance are errors (lower is better); failed renders count as the worst "
        "value.</p>"
        f'<div class="plots">{_img(plot, "metrics by domain")}</div>'
    )


def _run_section(series: dict[str, list[tuple[int, float]]], assets: Path, html_dir: Path) -> str:
    plot = _reward_plot(series, assets, html_dir)
    lines = "".join(
        f"<tr><td>{html.escape(name)}</td><td class=num>{len(points)}</td>"
        f"<td class=num>{points[0][1]:.4f}</td><td class=num>{points[-1][1]:.4f}</td></tr>"
        for name, points in series.items()
    )
    table = f"<table><tr><th>series</th><th>points</th><th>first</th><th>last</th></tr>{lines}</table>" if lines else ""
    return f'<h2>Training run</h2>{table}<div class="plots">{_img(plot, "reward over steps")}</div>'


def _probe_section(probes: Any, assets: Path, html_dir: Path) -> str:
    reports = probes if isinstance(probes, dict) and "outcomes" not in probes else {"probes": probes}
    parts = ["<h2>Reward-hacking probes</h2><p>Share of references where each reward orders the pair as expected.</p>"]
    for domain, report in reports.items():
        if not isinstance(report, dict) or not isinstance(report.get("outcomes"), list):
            raise ReportError(f"probes: {domain!r} has no outcomes list (not probe_rewards.py output)")
        outcomes = [o for o in report["outcomes"] if isinstance(o, dict)]
        rewards = list(dict.fromkeys(str(o.get("reward")) for o in outcomes))
        kinds = list(dict.fromkeys(str(o.get("probe")) for o in outcomes))
        rate = {(str(o.get("reward")), str(o.get("probe"))): o.get("rate") for o in outcomes}
        head = "".join(f"<th>{html.escape(r)}</th>" for r in rewards)
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td>"
            + "".join(f'<td class="num">{_number(rate.get((r, k)))}</td>' for r in rewards)
            + "</tr>"
            for k in kinds
        )
        grid = np.array([[np.nan if rate.get((r, k)) is None else rate[(r, k)] for r in rewards] for k in kinds])
        src = None
        if grid.size:
            fig = _figure(1.6 + 1.1 * len(rewards), 0.9 + 0.35 * len(kinds))
            ax = fig.subplots()
            image = ax.imshow(grid, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
            ax.set_xticks(range(len(rewards)), rewards, rotation=30, ha="right", fontsize=8)
            ax.set_yticks(range(len(kinds)), kinds, fontsize=8)
            for (i, j), value in np.ndenumerate(grid):
                if not np.isnan(value):
                    ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
            fig.colorbar(image, ax=ax)
            ax.set_title(f"{domain}: order rate", fontsize=9)
            src = _save(fig, assets, f"probes-{len(parts):02d}.png", html_dir)
        parts.append(
            f"<h3>{html.escape(str(domain))}</h3><table><tr><th>probe</th>{head}</tr>{rows}</table>"
            f'<div class="plots">{_img(src, f"probe order rates, {domain}")}</div>'
        )
    return "".join(parts)


def _severity_section(samples: list[ReportSample], assets: Path, html_dir: Path) -> str:
    plot = _severity_plot(samples, assets, html_dir)
    if plot is None:
        return "<h2>Critiques</h2><p>No critique with errors among the samples.</p>"
    return f'<h2>Critiques</h2><div class="plots">{_img(plot, "severity histogram")}</div>'


def _critique_table(sample: ReportSample) -> str:
    if sample.critique is None:
        return f"<p><em>{html.escape(sample.critique_note or 'no critique')}</em></p>"
    if not sample.critique:
        return "<p>Critique: no differences found.</p>"
    rows = "".join(
        f'<tr class="sev{int(e.get("severity", 0)) if e.get("severity") in SEVERITY_NAMES else 0}">'
        f"<td>{html.escape(str(e.get('category', '')))}</td>"
        f"<td>{html.escape(SEVERITY_NAMES.get(e.get('severity'), str(e.get('severity'))))}</td>"  # type: ignore[arg-type]
        f"<td>{html.escape(str(e.get('location', '')))}</td><td>{html.escape(str(e.get('description', '')))}</td></tr>"
        for e in sample.critique
        if isinstance(e, dict)
    )
    return f"<table><tr><th>category</th><th>severity</th><th>location</th><th>description</th></tr>{rows}</table>"


def _samples_section(samples: list[ReportSample], total: int, assets: Path, html_dir: Path) -> str:
    cards = []
    for index, sample in enumerate(samples):
        reference = _href(sample.reference, html_dir) if sample.reference else None
        candidate = _href(sample.candidate, html_dir) if sample.candidate else None
        heatmap = _heatmap(sample, index, assets, html_dir)
        figures = [f"<figure>{_img(reference, 'reference')}<figcaption>reference</figcaption></figure>"]
        if candidate:
            figures.append(f"<figure>{_img(candidate, 'candidate')}<figcaption>candidate</figcaption></figure>")
        else:
            figures.append(f'<p class="fail">did not render: {html.escape(sample.render_error or "no image")}</p>')
        if heatmap:
            figures.append(f"<figure>{_img(heatmap, 'difference')}<figcaption>difference</figcaption></figure>")
        facts = [f"domain: {html.escape(sample.domain)}"]
        if sample.reward is not None:
            facts.append(f"reward: {sample.reward:.3f}")
        facts += [f"{html.escape(k)}: {v:.3f}" for k, v in sample.metrics.items()]
        answer = (
            f"<details><summary>answer</summary><pre>{html.escape(sample.answer[:20000])}</pre></details>"
            if sample.answer
            else ""
        )
        cards.append(
            f'<div class="sample"><h3>{html.escape(sample.title)}</h3><p>{" · ".join(facts)}</p>'
            f'<div class="images">{"".join(figures)}</div>{_critique_table(sample)}{answer}</div>'
        )
    shown = f"first {len(samples)} of {total}" if total > len(samples) else f"{total}"
    return f"<h2>Samples ({shown})</h2>" + "".join(cards)
