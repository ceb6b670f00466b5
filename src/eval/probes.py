"""Reward-hacking probes: candidates whose order is known, and how often a reward puts each pair in that order.

For every reference (a seed from ``src.data.seeds``) the probes write, from the same spec, candidates of known
quality: the exact code; an equivalent rewrite (``src.data.perturb`` equivalences: other code, same pixels); one
minor error and one severe error (a single labelled perturbation of severity 1 / 3); and four degenerate answers a
policy could learn to game a weak reward with: an empty figure of the right size and grid, an image of the chart's
text only, the right colours drawn as the wrong chart type (the ``chart_type`` perturbation), and the right layout
with every series' numbers moved one category along (same range, same colours, wrong data). Charts also get the exact
chart in a 25% larger figure: a harmless difference that a policy's output has all the time (it guesses the figure
size from the image) and that pixel metrics cannot tell from a real mistake. All of them are rendered through the
``RenderPool`` like policy output; nothing is drawn by hand.

The known order, as pairs (better, worse):

=================== ======================== =====================================================
probe               expected                 why
=================== ======================== =====================================================
equivalent_rewrite  equivalent > minor error same pixels as the reference beat a visible mistake
resized             resized > severe error   the right chart in a 25% larger figure (charts only) is
                                             no worse than a severe mistake; pixel metrics punish it
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

Tables and SVG get the probes that mean something there (a probe whose candidates a reference cannot give is left
out, and reported as n/a when no reference gave it):
- table: blank = the same grid with every cell emptied; text only = all the table's words in one cell; wrong numbers
  = the number cells of each column moved one row along; no chart type.
- svg: blank = the background shapes only (all white when there are none, which the render pool reports as a
  failed render); text only = the text elements only; no chart type, no numbers.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from src.data.perturb import equivalences, perturbations
from src.data.seeds import seed_functions
from src.data.seeds.chart import ChartSpec, Panel
from src.data.seeds.svg import SvgElement, SvgSpec
from src.data.seeds.table import TableCell, TableSpec, cell_origins
from src.render.job import Domain, RenderJob, RenderResult
from src.render.pool import RenderPool
from src.reward.pair import RewardFunction, RewardPair, load_reference

CANDIDATES: tuple[str, ...] = (
    "exact",
    "equivalent_rewrite",
    "resized",
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
    "resized": ("resized", "severe_error"),
    "minor_error": ("exact", "minor_error"),
    "severe_error": ("minor_error", "severe_error"),
    "blank_figure": ("minor_error", "blank_figure"),
    "text_only": ("minor_error", "text_only"),
    "wrong_chart_type": ("minor_error", "wrong_chart_type"),
    "wrong_numbers": ("minor_error", "wrong_numbers"),
}
_VALUE_INDEXED = ("bar", "grouped_bar", "stacked_bar", "barh", "line", "multi_line", "area", "errorbar", "pie", "donut")
_TRIES = 40  # perturbation draws per reference before the reference is given up
_MAX_SIDE = {"chart": 1024, "table": 768, "svg": 1024}  # what the judge sees (paper)


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


def build_probes(domain: Domain, n_references: int, seed: int = 0) -> list[ProbeSet]:
    """``n_references`` probe sets of ``domain`` from seeds drawn with ``seed``. Seeds that cannot give the core
    candidates (exact, rewrite, one minor and one severe error; for charts every candidate) are skipped: box plots,
    histograms and scatter plots, for instance, have no chart-type change or category-indexed values."""
    if domain not in _DEGENERATE:
        raise ValueError(f"domain: {domain!r} is not one of {tuple(_DEGENERATE)}")
    if n_references < 1:
        raise ValueError(f"n_references: must be >= 1, got {n_references}")
    seeds = seed_functions(domain)
    rng = random.Random(seed)
    sets: list[ProbeSet] = []
    for attempt in range(n_references * 50):
        if len(sets) == n_references:
            break
        spec = seeds.make_seed(random.Random(rng.getrandbits(64)))
        probe = _probe_set(domain, spec, random.Random(rng.getrandbits(64)), f"{domain}-{seed}-{attempt}")
        if probe is not None:
            sets.append(probe)
    if len(sets) < n_references:
        raise RuntimeError(f"only {len(sets)} of {n_references} {domain} seeds gave the probes")
    return sets


def build_chart_probes(n_references: int, seed: int = 0) -> list[ProbeSet]:
    return build_probes("chart", n_references, seed)


def _probe_set(domain: Domain, spec: Any, rng: random.Random, reference_id: str) -> ProbeSet | None:
    source = seed_functions(domain).source
    exact = source(spec)
    minor = _single_error(domain, spec, rng, severity=1)
    severe = _single_error(domain, spec, rng, severity=3)
    if minor is None or severe is None:
        return None
    rewrite = rng.choice(sorted(equivalences(domain).items()))[1](spec, rng)
    if rewrite == exact:
        return None
    degenerate = _DEGENERATE[domain](spec, rng)
    if degenerate is None:
        return None
    candidates = {
        "exact": exact,
        "equivalent_rewrite": rewrite,
        "minor_error": source(minor[0]),
        "severe_error": source(severe[0]),
    }
    notes = {"minor_error": minor[1], "severe_error": severe[1]}
    for name, (candidate, note) in degenerate.items():
        candidates[name] = candidate
        if note:
            notes[name] = note
    return ProbeSet(reference_id, domain, exact, candidates, notes)


def _chart_degenerate(spec: ChartSpec, rng: random.Random) -> dict[str, tuple[str, str]] | None:
    """Every chart gives all five extra candidates, or the seed is skipped."""
    wrong_type = perturbations("chart")["chart_type"](spec, rng)
    wrong_numbers = _rotated_values(spec)
    if wrong_type is None or wrong_numbers is None:
        return None
    source = seed_functions("chart").source
    resized = replace(spec, figsize=(round(spec.figsize[0] * 1.25, 2), round(spec.figsize[1] * 1.25, 2)))
    return {
        "resized": (source(resized), ""),
        "blank_figure": (_blank_figure_source(spec), ""),
        "text_only": (_text_only_source(spec), ""),
        "wrong_chart_type": (source(wrong_type.spec), wrong_type.errors[0].description),
        "wrong_numbers": (source(wrong_numbers), ""),
    }


def _table_degenerate(spec: TableSpec, rng: random.Random) -> dict[str, tuple[str, str]] | None:
    source = seed_functions("table").source
    out = {
        "blank_figure": (source(_blank_table(spec)), ""),
        "text_only": (source(_text_only_table(spec)), ""),
    }
    wrong_numbers = _rotated_numbers(spec)
    if wrong_numbers is not None:
        out["wrong_numbers"] = (source(wrong_numbers), "")
    return out


def _svg_degenerate(spec: SvgSpec, rng: random.Random) -> dict[str, tuple[str, str]] | None:
    source = seed_functions("svg").source
    out = {"blank_figure": (source(replace(spec, elements=_keep(spec.elements, _is_background))), "")}
    texts = _keep(spec.elements, lambda e: e.kind == "text")
    if texts:
        out["text_only"] = (source(replace(spec, elements=texts)), "")
    return out


def _single_error(domain: Domain, spec: Any, rng: random.Random, severity: int) -> tuple[Any, str] | None:
    """A spec with exactly one labelled discrepancy of ``severity`` (chart-type changes are their own probe)."""
    kinds = sorted(k for k in perturbations(domain) if k != "chart_type")
    for _ in range(_TRIES):
        kind = rng.choice(kinds)
        result = perturbations(domain)[kind](spec, rng)
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


def _blank_table(spec: TableSpec) -> TableSpec:
    """The same grid, spans, style and caption position with every cell empty."""

    def empty(rows: tuple[tuple[TableCell, ...], ...]) -> tuple[tuple[TableCell, ...], ...]:
        return tuple(tuple(replace(cell, text="") for cell in row) for row in rows)

    return replace(spec, header=empty(spec.header), body=empty(spec.body), caption=None, footnote=None)


def _text_only_table(spec: TableSpec) -> TableSpec:
    """All the table's words in one cell: the right text, none of the structure."""
    words = [spec.caption or ""] + [cell.text for cell in spec.cells()] + [spec.footnote or ""]
    cell = TableCell(id="all", text=" ".join(w for w in words if w))
    return replace(spec, header=(), body=((cell,),), align=("left",), col_ids=("all",), caption=None,
                   footnote=None, fmt="html")  # fmt: skip


def _rotated_numbers(spec: TableSpec) -> TableSpec | None:
    """Each column's body number cells shifted one row along (same format, wrong data); None without numbers."""
    origins = cell_origins(spec)
    columns: dict[int, list[TableCell]] = {}
    for row in spec.body:
        for cell in row:
            if cell.kind == "number":
                columns.setdefault(origins[cell.id][1], []).append(cell)
    moved: dict[str, str] = {}
    for cells in columns.values():
        texts = [c.text for c in cells]
        for cell, text in zip(cells, texts[1:] + texts[:1], strict=True):
            if text != cell.text:
                moved[cell.id] = text
    if not moved:
        return None
    body = tuple(tuple(replace(c, text=moved.get(c.id, c.text)) for c in row) for row in spec.body)
    return replace(spec, body=body)


def _is_background(element: SvgElement) -> bool:
    return "background" in element.role


def _keep(elements: tuple[SvgElement, ...], wanted: Callable[[SvgElement], bool]) -> tuple[SvgElement, ...]:
    """The wanted elements, inside the groups (and their transforms) that hold them."""
    kept: list[SvgElement] = []
    for element in elements:
        if element.kind == "group":
            children = _keep(element.children, wanted)
            if children:
                kept.append(replace(element, children=children))
        elif wanted(element):
            kept.append(element)
    return tuple(kept)


_DEGENERATE: dict[str, Callable[[Any, random.Random], dict[str, tuple[str, str]] | None]] = {
    "chart": _chart_degenerate,
    "table": _table_degenerate,
    "svg": _svg_degenerate,
}


def render_probes(probe_sets: Sequence[ProbeSet], pool: RenderPool) -> list[RenderedProbeSet]:
    """Render every reference and candidate in one pool call; a reference that fails to render is an error."""
    jobs: list[RenderJob] = []
    for probes in probe_sets:
        max_side = _MAX_SIDE[probes.domain]
        jobs.append(RenderJob(probes.domain, probes.reference_source, max_side=max_side))
        jobs += [RenderJob(probes.domain, source, max_side=max_side) for source in probes.candidates.values()]
    results = iter(pool.render(jobs))
    rendered = []
    for probes in probe_sets:
        reference = next(results)
        renders = {name: next(results) for name in probes.candidates}
        if not reference.ok or reference.png is None:
            raise RuntimeError(f"{probes.reference_id}: reference did not render ({reference.error_kind})")
        rendered.append(RenderedProbeSet(probes, reference.png, renders))
    return rendered


@dataclass(frozen=True)
class ProbeOutcome:
    """How one reward did on one probe kind over the references that gave both candidates."""

    reward: str
    probe: str
    expected: str
    pairs: int
    ordered: int
    ties: int

    @property
    def rate(self) -> float | None:
        return self.ordered / self.pairs if self.pairs else None


@dataclass
class ProbeReport:
    """One domain's order rates per (reward, probe), mean score per (reward, candidate), and what was measured."""

    domain: str
    outcomes: list[ProbeOutcome]
    mean_scores: dict[str, dict[str, float | None]]  # None: no reference gave that candidate
    render_failures: dict[str, int]  # candidate -> references where it did not render
    references: int
    seconds: dict[str, float]  # reward -> time spent scoring

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "references": self.references,
            "probes": {kind: f"{better} > {worse}" for kind, (better, worse) in PROBES.items()},
            "outcomes": [{**asdict(o), "rate": o.rate} for o in self.outcomes],
            "mean_scores": self.mean_scores,
            "render_failures": self.render_failures,
            "seconds": self.seconds,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        rewards = list(self.mean_scores)
        by_key = {(o.reward, o.probe): o for o in self.outcomes}
        lines = [
            f"**{self.domain}**: share of {self.references} references where the reward orders the pair as expected "
            "(strictly higher; ties in brackets; n/a: no reference gave the probe).",
            "",
            "| probe | expected | " + " | ".join(rewards) + " |",
            "|---|---|" + "---|" * len(rewards),
        ]
        for kind, (better, worse) in PROBES.items():
            cells = []
            for reward in rewards:
                o = by_key[(reward, kind)]
                if o.rate is None:
                    cells.append("n/a")
                else:
                    cells.append(f"{o.rate:.2f}" + (f" ({o.ties} ties)" if o.ties else ""))
            lines.append(f"| {kind} | {better} > {worse} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"**{self.domain}**: mean score per candidate.",
            "",
            "| candidate | " + " | ".join(rewards) + " |",
        ]
        lines.append("|---|" + "---|" * len(rewards))
        for name in CANDIDATES:
            means = [self.mean_scores[r][name] for r in rewards]
            lines.append(f"| {name} | " + " | ".join("n/a" if m is None else f"{m:.4f}" for m in means) + " |")
        failed = {k: v for k, v in self.render_failures.items() if v}
        if failed:
            lines += ["", "Candidates that did not render: " + ", ".join(f"{k} {v}" for k, v in failed.items())]
        return "\n".join(lines) + "\n"


def score_probes(rendered: Sequence[RenderedProbeSet], rewards: Mapping[str, RewardFunction]) -> ProbeReport:
    """Score every candidate with every reward (one call per reward, pairs grouped per reference) and count orders."""
    domains = {p.probes.domain for p in rendered}
    if len(domains) != 1:
        raise ValueError(f"score one domain at a time, got {sorted(domains)}")
    pairs: list[RewardPair] = []
    slots: list[tuple[int, str]] = []  # (reference index, candidate) of each pair
    for index, probes in enumerate(rendered):
        reference = load_reference(probes.reference_png)
        for name, render in probes.renders.items():
            pairs.append(
                RewardPair(
                    reference=reference,
                    candidate=render,
                    domain=probes.probes.domain,
                    group=probes.probes.reference_id,
                    reference_source=probes.probes.reference_source,
                    candidate_source=probes.probes.candidates[name],
                )
            )
            slots.append((index, name))
    outcomes: list[ProbeOutcome] = []
    means: dict[str, dict[str, float | None]] = {}
    seconds: dict[str, float] = {}
    for reward_name, reward in rewards.items():
        start = time.perf_counter()
        scores = reward(pairs)
        seconds[reward_name] = time.perf_counter() - start
        if len(scores) != len(pairs):
            raise RuntimeError(f"reward {reward_name!r} returned {len(scores)} scores for {len(pairs)} pairs")
        table: list[dict[str, float]] = [{} for _ in rendered]
        for (index, name), score in zip(slots, scores, strict=True):
            table[index][name] = float(score)
        means[reward_name] = {}
        for name in CANDIDATES:
            values = [row[name] for row in table if name in row]
            means[reward_name][name] = sum(values) / len(values) if values else None
        for kind, (better, worse) in PROBES.items():
            rows = [row for row in table if better in row and worse in row]
            ordered = sum(row[better] > row[worse] for row in rows)
            ties = sum(row[better] == row[worse] for row in rows)
            outcomes.append(ProbeOutcome(reward_name, kind, f"{better} > {worse}", len(rows), ordered, ties))
    failures = {name: sum(name in p.renders and not p.renders[name].ok for p in rendered) for name in CANDIDATES}
    return ProbeReport(domains.pop(), outcomes, means, failures, len(rendered), seconds)


def run_probes(
    rewards: Mapping[str, RewardFunction],
    pool: RenderPool,
    n_references: int = 20,
    seed: int = 0,
    domain: Domain = "chart",
) -> ProbeReport:
    """Build, render and score one domain's probes: the whole measurement in one call."""
    return score_probes(render_probes(build_probes(domain, n_references, seed), pool), rewards)
