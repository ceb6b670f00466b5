"""Policy evaluation: a policy's answers → renders → per-domain metrics (+ the judge's reward and critique) → tables.

``score_answers`` takes answers the policy already wrote (``tools/eval_policy.py`` generates them with any engine
over a ``VisionToCodeDataModule`` set), renders every candidate (and each chart reference, traced) in one call to
the render pool, and scores each sample with its domain's metrics:
- chart: execution (the code rendered) and ChartMimic's low-level F1s (``chart.py``), from matplotlib traces taken
  inside the sandbox; needs the reference's code.
- table: TEDS, TEDS-S, normalized edit distance (``table.py``); needs the reference's markup.
- svg: SSIM, pixel MSE, embedding cosine when an encoder is given (``svg.py``).
- every domain: ``executed``, and the judge's reward and critique when a judge is given (a Visual-ERM judge scores
  with a fixed severity scale here, whatever its training normalization: see ``_judge``).
A metric that cannot be computed for a sample (no reference code) is absent from that sample and counted in
``missing`` by ``aggregate``, never silently scored 0.

``write_results`` saves ``samples.jsonl`` (one row per sample), ``summary.json`` (per domain and overall),
``summary.md``, and each sample's reference/candidate PNG under ``images/`` for the HTML report.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, cast

from PIL import Image

from src.data.schema import Critique
from src.eval.metrics.chart import CHART_METRICS, chart_scores
from src.eval.metrics.svg import SVG_METRICS, SVGMetrics
from src.eval.metrics.table import TABLE_METRICS, table_scores
from src.render.chart_trace import TraceError, read_trace
from src.render.job import DOMAINS, Domain, RenderJob, RenderResult
from src.reward.judge import VisualERMJudge
from src.reward.pair import RewardFunction, RewardPair

# Which way is better, for tables and the report ("mse" and "edit_distance" are errors).
LOWER_IS_BETTER = frozenset({"mse", "edit_distance"})
DOMAIN_METRICS: dict[str, tuple[str, ...]] = {
    "chart": ("execution_rate", *CHART_METRICS),
    "table": ("execution_rate", *TABLE_METRICS),
    "svg": ("execution_rate", *SVG_METRICS),
}


class Renderer(Protocol):
    """What scoring needs of a render pool (``RenderPool`` is one)."""

    def render(self, jobs: Sequence[RenderJob]) -> list[RenderResult]: ...


@dataclass(frozen=True)
class PolicyAnswer:
    """One prompt's reference and the policy's answer to it."""

    id: str
    domain: str
    reference_image: Image.Image
    answer: str
    reference_code: str | None = None

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"answer {self.id!r}: domain {self.domain!r} is not one of {DOMAINS}")


@dataclass
class SampleScore:
    """Everything measured for one answer; ``metrics`` holds only what could be computed."""

    id: str
    domain: str
    executed: bool
    error_kind: str | None
    message: str
    metrics: dict[str, float] = field(default_factory=dict)
    judge_reward: float | None = None
    critique: list[dict[str, Any]] | None = None  # category, severity, location, description
    critique_error: str | None = None  # why the judge's answer did not parse
    candidate_png: bytes | None = field(default=None, repr=False)
    answer: str = field(default="", repr=False)

    def row(self) -> dict[str, Any]:
        """JSON-safe, without the PNG bytes."""
        out = asdict(self)
        out.pop("candidate_png")
        return out


def score_answers(
    answers: Sequence[PolicyAnswer],
    pool: Renderer,
    svg_metrics: SVGMetrics | None = None,
    judge: RewardFunction | None = None,
) -> list[SampleScore]:
    """Render and score every answer (see the module docstring); results in the order of ``answers``."""
    svg_metrics = svg_metrics or SVGMetrics()
    jobs = [RenderJob(cast(Domain, a.domain), a.answer, trace=a.domain == "chart", tag=a.id) for a in answers]
    chart_refs = [i for i, a in enumerate(answers) if a.domain == "chart" and a.reference_code is not None]
    jobs += [
        RenderJob("chart", answers[i].reference_code or "", trace=True, tag=f"{answers[i].id}/ref") for i in chart_refs
    ]
    rendered = pool.render(jobs)
    candidates, references = rendered[: len(answers)], dict(zip(chart_refs, rendered[len(answers) :], strict=True))

    scores = [
        SampleScore(a.id, a.domain, r.ok, r.error_kind, r.message, candidate_png=r.png, answer=a.answer)
        for a, r in zip(answers, candidates, strict=True)
    ]
    pairs = [RewardPair(a.reference_image, r, a.domain) for a, r in zip(answers, candidates, strict=True)]
    for i, answer in enumerate(answers):
        if answer.domain == "chart" and i in references:
            scores[i].metrics.update(_chart_metrics(references[i], candidates[i]))
        elif answer.domain == "table" and answer.reference_code is not None:
            with contextlib.suppress(ValueError):  # the reference has no table: counted as missing
                scores[i].metrics.update(table_scores(answer.reference_code, answer.answer))
    svg_index = [i for i, a in enumerate(answers) if a.domain == "svg"]
    for i, row in zip(svg_index, svg_metrics([pairs[i] for i in svg_index]), strict=True):
        scores[i].metrics.update(row)
    if judge is not None and pairs:
        _judge(judge, pairs, scores)
    return scores


def _chart_metrics(reference: RenderResult, candidate: RenderResult) -> dict[str, float]:
    """Low-level F1s; empty when the reference itself did not run (nothing to compare against)."""
    try:
        ref_trace = read_trace(reference.trace) if reference.ok else None
    except TraceError:
        ref_trace = None
    if ref_trace is None:
        return {}
    try:
        cand_trace = read_trace(candidate.trace) if candidate.ok else None
    except TraceError:
        cand_trace = None  # a forged or broken trace earns what a failed run does
    return chart_scores(ref_trace, cand_trace)


def _judge(judge: RewardFunction, pairs: list[RewardPair], scores: list[SampleScore]) -> None:
    if isinstance(judge, VisualERMJudge):  # keep the critiques for the report
        # Each sample is scored on its own, so the paper's group-max normalization would divide S by itself and
        # give only 2.0 (no error) or ~1.0 (any error). A fixed scale (S / fixed_scale, the public reward's) keeps
        # severity visible and a sample's score independent of which other samples were evaluated with it.
        result = judge.judge(pairs, reward=replace(judge.reward, normalization="fixed"))
        for score, judged in zip(scores, result.pairs, strict=True):
            score.judge_reward = float(judged.reward)
            if isinstance(judged.critique, Critique):
                score.critique = [asdict(e) for e in judged.critique.errors]
            elif judged.critique is not None:
                score.critique_error = str(judged.critique)
        return
    for score, reward in zip(scores, judge(pairs), strict=True):
        score.judge_reward = float(reward)


def aggregate(scores: Sequence[SampleScore]) -> dict[str, dict[str, Any]]:
    """Per domain and ``overall``: ``samples``, ``execution_rate``, each metric's mean over the samples that have
    it, ``judge_reward`` mean, and ``missing`` (metric → samples that could not be scored)."""
    summary: dict[str, dict[str, Any]] = {}
    for domain in (*DOMAINS, "overall"):
        rows = [s for s in scores if domain in ("overall", s.domain)]
        if not rows:
            continue
        entry: dict[str, Any] = {"samples": len(rows), "execution_rate": sum(s.executed for s in rows) / len(rows)}
        names = DOMAIN_METRICS[domain][1:] if domain != "overall" else ()
        missing = {}
        for name in names:
            values = [s.metrics[name] for s in rows if name in s.metrics]
            if name == "embedding_cosine" and not values:
                continue  # no encoder was given: not a gap in the data
            entry[name] = sum(values) / len(values) if values else None
            if len(values) < len(rows):
                missing[name] = len(rows) - len(values)
        judged = [s.judge_reward for s in rows if s.judge_reward is not None]
        if judged:
            entry["judge_reward"] = sum(judged) / len(judged)
        entry["missing"] = missing
        summary[domain] = entry
    return summary


def summary_markdown(summary: dict[str, dict[str, Any]]) -> str:
    """One table per domain: metric, value (×100 for rates and similarities), and which way is better."""
    lines = ["# Policy evaluation", ""]
    for domain, entry in summary.items():
        lines += [f"## {domain} ({entry['samples']} samples)", "", "| metric | value | better |", "|---|---:|---|"]
        for name, value in entry.items():
            if name in ("samples", "missing"):
                continue
            shown = "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"
            lines.append(f"| {name} | {shown} | {'lower' if name in LOWER_IS_BETTER else 'higher'} |")
        if entry["missing"]:
            gaps = ", ".join(f"{k}: {v}" for k, v in entry["missing"].items())
            lines += ["", f"Not scored (no reference code or table): {gaps}."]
        lines.append("")
    lines.append("Values ×100. Failed renders count as the worst value of each metric.")
    return "\n".join(lines) + "\n"


class ResultWriter:
    """Writes samples as they are scored, so a large evaluation holds one chunk of images in memory at a time.

    ``add`` appends rows to ``samples.jsonl`` and PNGs to ``images/``; ``finish`` writes ``summary.json`` (with the
    run's ``config``) and ``summary.md`` and returns the summary.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.images = self.out_dir / "images"
        self.images.mkdir(parents=True, exist_ok=True)
        self._handle = (self.out_dir / "samples.jsonl").open("w", encoding="utf-8")
        self.scores: list[SampleScore] = []  # without their PNGs

    def add(self, answers: Sequence[PolicyAnswer], scores: Sequence[SampleScore]) -> None:
        for answer, score in zip(answers, scores, strict=True):
            stem = f"{len(self.scores):05d}"
            row = score.row()
            answer.reference_image.save(self.images / f"{stem}-reference.png")
            row["reference_image"] = f"images/{stem}-reference.png"
            row["candidate_image"] = None
            if score.candidate_png is not None:
                (self.images / f"{stem}-candidate.png").write_bytes(score.candidate_png)
                row["candidate_image"] = f"images/{stem}-candidate.png"
            self._handle.write(json.dumps(row) + "\n")
            self.scores.append(replace(score, candidate_png=None))
        self._handle.flush()

    def finish(self, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
        self._handle.close()
        summary = aggregate(self.scores)
        payload = {"summary": summary, "config": config}
        (self.out_dir / "summary.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        (self.out_dir / "summary.md").write_text(summary_markdown(summary), encoding="utf-8")
        return summary


def write_results(
    out_dir: Path, answers: Sequence[PolicyAnswer], scores: Sequence[SampleScore], config: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Write ``samples.jsonl``, ``summary.json``/``.md`` and ``images/`` in one go; returns the summary."""
    writer = ResultWriter(out_dir)
    writer.add(answers, scores)
    return writer.finish(config)


def decode_png(data: bytes) -> Image.Image:
    """PNG bytes → RGB image (for tests and the report)."""
    return Image.open(io.BytesIO(data)).convert("RGB")
