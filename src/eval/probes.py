"""Reward-hacking probes: candidates whose order is known, and how often a reward puts each pair in that order.

For every reference chart (a seed from ``src.data.seeds``) the probes write, from the same spec, candidates of known
quality: the exact code; an equivalent rewrite (``src.data.perturb`` equivalences: other code, same pixels); one
minor error and one severe error (a single labelled perturbation of severity 1 / 3); and four degenerate answers a
policy could learn to game a weak reward with: an empty figure of the right size and grid, an image of the chart's
text only, the right colours drawn as the wrong chart type (the ``chart_type`` perturbation), and the right layout
with every series' numbers moved one category along (same range, same colours, wrong data). All of them are
rendered through the ``RenderPool`` like policy output; nothing is drawn by hand.

The known order, as pairs (better, worse):

=================== ======================== =====================================================
probe               expected                 why
=================== ======================== =====================================================
equivalent_rewrite  equivalent > minor error same pixels as the reference beat a visible mistake
minor_error         exact > minor error      a reward must see a small mistake at all
severe_error        minor error > severe     severity must count
blank_figure        minor error > blank      empty axes are not a near miss
text_only           minor error > text only  the words without the chart
wrong_chart_type    minor error > wrong type right colours do not make the right chart
wrong_numbers       minor error > wrong data right layout does not make the right data
=================== ======================== =====================================================

A pair counts as ordered when the better candidate scores strictly higher; a tie counts as not ordered (a constant
reward orders nothing) and is reported separately. The paper's observation that DINO similarity stays above 0.99
on visibly wrong charts shows up in the mean-score table next to the order rates.

Charts only: the wrong-chart-type and wrong-numbers probes are chart concepts; tables and SVG would need their own
degenerate candidates (written up in the project notes as future work).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

from src.data.perturb import equivalences, perturbations
from src.data.seeds import seed_functions
from src.data.seeds.chart import ChartSpec, Panel
from src.render.job import Domain, RenderJob, RenderResult
from src.render.pool import RenderPool
from src.reward.pair import RewardFunction, RewardPair, load_reference

CANDIDATES: tuple[str, ...] = (
    "exact",
    "equivalent_rewrite",
    "minor_error",
    "severe_error",
    "blank_figure",
    "text_only",
    "wrong_chart_type",
    "wrong_numbers",
)
# probe kind -> (better candidate, worse candidate)
PROBES: dict[str, tuple[str, str]] = {
    "equivalent_rewrite": ("equivalent_rewrite", "minor_error"),
    "minor_error": ("exact", "minor_error"),
    "severe_error": ("minor_error", "severe_error"),
    "blank_figure": ("minor_error", "blank_figure"),
    "text_only": ("minor_error", "text_only"),
    "wrong_chart_type": ("minor_error", "wrong_chart_type"),
    "wrong_numbers": ("minor_error", "wrong_numbers"),
}
_VALUE_INDEXED = ("bar", "grouped_bar", "stacked_bar", "barh", "line", "multi_line", "area", "errorbar", "pie", "donut")
_TRIES = 40  # perturbation draws per reference before the reference is given up


@dataclass(frozen=True)
class ProbeSet:
    """One reference and its candidates' sources (keys: ``CANDIDATES``); ``notes`` say what each error is."""

    reference_id: str
    domain: Domain
    reference_source: str
    candidates: dict[str, str]
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderedProbeSet:
    probes: ProbeSet
    reference_png: bytes
    renders: dict[str, RenderResult]


def build_chart_probes(n_references: int, seed: int = 0) -> list[ProbeSet]:
    """``n_references`` chart probe sets from seeds drawn with ``seed``; seeds that cannot give every probe are
    skipped (box plots, histograms and scatter plots have no chart-type change or category-indexed values)."""
    if n_references < 1:
        raise ValueError(f"n_references: must be >= 1, got {n_references}")
    seeds = seed_functions("chart")
    rng = random.Random(seed)
    sets: list[ProbeSet] = []
    for attempt in range(n_references * 50):
        if len(sets) == n_references:
            break
        spec: ChartSpec = seeds.make_seed(random.Random(rng.getrandbits(64)))
        probe = _chart_probe_set(spec, random.Random(rng.getrandbits(64)), f"chart-{seed}-{attempt}")
        if probe is not None:
            sets.append(probe)
    if len(sets) < n_references:
        raise RuntimeError(f"only {len(sets)} of {n_references} chart seeds gave every probe")
    return sets


def _chart_probe_set(spec: ChartSpec, rng: random.Random, reference_id: str) -> ProbeSet | None:
    seeds = seed_functions("chart")
    exact = seeds.source(spec)
    wrong_type = perturbations("chart")["chart_type"](spec, rng)
    wrong_numbers = _rotated_values(spec)
    minor = _single_error(spec, rng, severity=1)
    severe = _single_error(spec, rng, severity=3)
    if wrong_type is None or wrong_numbers is None or minor is None or severe is None:
        return None
    rewrite = rng.choice(sorted(equivalences("chart").items()))[1](spec, rng)
    if rewrite == exact:
        return None
    candidates = {
        "exact": exact,
        "equivalent_rewrite": rewrite,
        "minor_error": seeds.source(minor[0]),
        "severe_error": seeds.source(severe[0]),
        "blank_figure": _blank_figure_source(spec),
        "text_only": _text_only_source(spec),
        "wrong_chart_type": seeds.source(wrong_type.spec),
        "wrong_numbers": seeds.source(wrong_numbers),
    }
    notes = {"minor_error": minor[1], "severe_error": severe[1], "wrong_chart_type": wrong_type.errors[0].description}
    return ProbeSet(reference_id, "chart", exact, candidates, notes)


def _single_error(spec: ChartSpec, rng: random.Random, severity: int) -> tuple[ChartSpec, str] | None:
    """A spec with exactly one labelled discrepancy of ``severity`` (chart-type changes are their own probe)."""
    kinds = sorted(k for k in perturbations("chart") if k != "chart_type")
    for _ in range(_TRIES):
        kind = rng.choice(kinds)
        result = perturbations("chart")[kind](spec, rng)
        if result is not None and len(result.errors) == 1 and result.errors[0].severity == severity:
            return result.spec, f"{kind}: {result.errors[0].description}"
    return None


def _rotated_values(spec: ChartSpec) -> ChartSpec | None:
    """Every series' values (and error bars) moved one category along: same range, colours and labels, wrong data.

    All series shift together, so stacked totals are permuted too and stay inside any explicit axis range."""
    panels: list[Panel] = []
    for panel in spec.panels:
        if panel.kind not in _VALUE_INDEXED or len(panel.categories) < 2:
            return None
        series = tuple(
            replace(s, values=s.values[1:] + s.values[:1], errors=s.errors[1:] + s.errors[:1] if s.errors else ())
            for s in panel.series
        )
        if all(new.values == old.values for new, old in zip(series, panel.series, strict=True)):
            return None  # flat data: rotation changes nothing
        panels.append(replace(panel, series=series))
    return replace(spec, panels=tuple(panels))


def _figure_header(spec: ChartSpec) -> list[str]:
    lines = ["import matplotlib.pyplot as plt"]
    if spec.style != "default":
        lines.append(f"plt.style.use({spec.style!r})")
    return lines


def _blank_figure_source(spec: ChartSpec) -> str:
    """Empty axes in the reference's size, grid and style: not all-white, so a blank-image check passes it."""
    return "\n".join(
        [
            *_figure_header(spec),
            f"fig, axes = plt.subplots({spec.nrows}, {spec.ncols}, figsize={tuple(spec.figsize)!r})",
            "plt.tight_layout()",
            "plt.savefig('figure.png')",
        ]
    )


def _text_only_source(spec: ChartSpec) -> str:
    """The chart's words (titles, axis labels, categories, series names) on an empty canvas of the same size."""
    words: list[str] = [spec.suptitle] if spec.suptitle else []
    for panel in spec.panels:
        words += [panel.title, panel.xlabel, panel.ylabel]
        words.append(", ".join(panel.categories))
        words.append(", ".join(s.name for s in panel.series))
    words = [w for w in words if w]
    lines = [*_figure_header(spec), f"fig = plt.figure(figsize={tuple(spec.figsize)!r})"]
    for i, text in enumerate(words):
        y = 0.92 - i * 0.8 / max(1, len(words) - 1)
        lines.append(f"fig.text(0.5, {y:.3f}, {text!r}, ha='center', va='center', fontsize={14 if i == 0 else 10})")
    lines.append("plt.savefig('figure.png')")
    return "\n".join(lines)


def render_probes(probe_sets: Sequence[ProbeSet], pool: RenderPool) -> list[RenderedProbeSet]:
    """Render every reference and candidate in one pool call; a reference that fails to render is an error."""
    jobs = []
    for probes in probe_sets:
        jobs.append(RenderJob(probes.domain, probes.reference_source))
        jobs += [RenderJob(probes.domain, probes.candidates[name]) for name in CANDIDATES]
    results = pool.render(jobs)
    rendered = []
    stride = 1 + len(CANDIDATES)
    for i, probes in enumerate(probe_sets):
        reference, *candidates = results[i * stride : (i + 1) * stride]
        if not reference.ok or reference.png is None:
            raise RuntimeError(f"{probes.reference_id}: reference did not render ({reference.error_kind})")
        rendered.append(RenderedProbeSet(probes, reference.png, dict(zip(CANDIDATES, candidates, strict=True))))
    return rendered


@dataclass(frozen=True)
class ProbeOutcome:
    """How one reward did on one probe kind over all references."""

    reward: str
    probe: str
    expected: str
    pairs: int
    ordered: int
    ties: int

    @property
    def rate(self) -> float:
        return self.ordered / self.pairs if self.pairs else 0.0


@dataclass
class ProbeReport:
    """Order rates per (reward, probe), mean score per (reward, candidate), and what was measured."""

    outcomes: list[ProbeOutcome]
    mean_scores: dict[str, dict[str, float]]
    render_failures: dict[str, int]  # candidate -> references where it did not render
    references: int
    seconds: dict[str, float]  # reward -> time spent scoring

    def to_json(self) -> str:
        return json.dumps(
            {
                "references": self.references,
                "probes": {kind: f"{better} > {worse}" for kind, (better, worse) in PROBES.items()},
                "outcomes": [{**asdict(o), "rate": o.rate} for o in self.outcomes],
                "mean_scores": self.mean_scores,
                "render_failures": self.render_failures,
                "seconds": self.seconds,
            },
            indent=2,
        )

    def to_markdown(self) -> str:
        rewards = list(self.mean_scores)
        by_key = {(o.reward, o.probe): o for o in self.outcomes}
        lines = [
            f"Share of {self.references} references where the reward orders the pair as expected "
            "(strictly higher; ties in brackets).",
            "",
            "| probe | expected | " + " | ".join(rewards) + " |",
            "|---|---|" + "---|" * len(rewards),
        ]
        for kind, (better, worse) in PROBES.items():
            cells = []
            for reward in rewards:
                o = by_key[(reward, kind)]
                cells.append(f"{o.rate:.2f}" + (f" ({o.ties} ties)" if o.ties else ""))
            lines.append(f"| {kind} | {better} > {worse} | " + " | ".join(cells) + " |")
        lines += ["", "Mean score per candidate.", "", "| candidate | " + " | ".join(rewards) + " |"]
        lines.append("|---|" + "---|" * len(rewards))
        for name in CANDIDATES:
            lines.append(f"| {name} | " + " | ".join(f"{self.mean_scores[r][name]:.4f}" for r in rewards) + " |")
        failed = {k: v for k, v in self.render_failures.items() if v}
        if failed:
            lines += ["", "Candidates that did not render: " + ", ".join(f"{k} {v}" for k, v in failed.items())]
        return "\n".join(lines) + "\n"


def score_probes(rendered: Sequence[RenderedProbeSet], rewards: Mapping[str, RewardFunction]) -> ProbeReport:
    """Score every candidate with every reward (one call per reward, pairs grouped per reference) and count orders."""
    pairs: list[RewardPair] = []
    for probes in rendered:
        reference = load_reference(probes.reference_png)
        pairs += [
            RewardPair(
                reference=reference,
                candidate=probes.renders[name],
                domain=probes.probes.domain,
                group=probes.probes.reference_id,
                reference_source=probes.probes.reference_source,
                candidate_source=probes.probes.candidates[name],
            )
            for name in CANDIDATES
        ]
    outcomes, means, seconds = [], {}, {}
    for reward_name, reward in rewards.items():
        start = time.perf_counter()
        scores = reward(pairs)
        seconds[reward_name] = time.perf_counter() - start
        if len(scores) != len(pairs):
            raise RuntimeError(f"reward {reward_name!r} returned {len(scores)} scores for {len(pairs)} pairs")
        table: list[dict[str, float]] = [
            dict(zip(CANDIDATES, scores[i * len(CANDIDATES) : (i + 1) * len(CANDIDATES)], strict=True))
            for i in range(len(rendered))
        ]
        means[reward_name] = {name: sum(row[name] for row in table) / len(table) for name in CANDIDATES}
        for kind, (better, worse) in PROBES.items():
            ordered = sum(row[better] > row[worse] for row in table)
            ties = sum(row[better] == row[worse] for row in table)
            outcomes.append(ProbeOutcome(reward_name, kind, f"{better} > {worse}", len(table), ordered, ties))
    failures = {name: sum(not p.renders[name].ok for p in rendered) for name in CANDIDATES}
    return ProbeReport(outcomes, means, failures, len(rendered), seconds)


def run_probes(
    rewards: Mapping[str, RewardFunction], pool: RenderPool, n_references: int = 20, seed: int = 0
) -> ProbeReport:
    """Build, render and score chart probes: the whole measurement in one call."""
    return score_probes(render_probes(build_chart_probes(n_references, seed), pool), rewards)
