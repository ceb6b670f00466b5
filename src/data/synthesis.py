"""Synthesis: seed specs → (reference, candidate, exact discrepancies) → rendered, pixel-checked, sharded pairs.

Launch: ``python tools/synthesize.py --domains chart table svg --n 300 --out data/synth --seed 0``.

Per domain, pair ``i`` belongs to reference group ``i // candidates_per_reference``: a group shares one seed spec
and so one reference render (amortised over its candidates). Every random choice comes from a ``random.Random``
seeded by ``(seed, domain, group)`` for the reference and ``(seed, domain, i)`` for the candidate, so a pair is a
pure function of its id ``<domain>-s<seed>-<i>``. That is what makes resuming exact: on restart the ids already in
the manifests or in the drop ledger are skipped, the rest are regenerated identically, and pairs are recorded in
index order until ``n`` are kept, so an interrupted-then-resumed run ends with the same set as an uninterrupted one.

Candidate mix (decided per pair from its rng):
- ``equivalent_share`` (15%): an equivalence rewrite — different code, same pixels, no errors; teaches the model
  not to invent errors (paper: the judge must say "no difference" when there is none).
- ``identical_share`` (5%): the reference code itself, the trivial 0-error case a policy hits when it is right.
- otherwise 1–4 perturbations of distinct kinds composed on one running spec (weights 40/30/20/10%: most
  real candidates have one or two mistakes).

Pixel check of every label: a perturbed candidate whose render differs from the reference in fewer than
``visible_min_pixels`` pixels is **dropped**, not relabelled as equivalent: its code does differ, and a change
that is invisible at this resolution may be visible at another, so "no error" would be a label we cannot vouch
for. A composed candidate is also rendered after each of its steps, and every step must change pixels against
the image before it (``step_invisible`` otherwise), so each label of a 2–4-error pair is seen, not only the sum;
this costs about half again as many renders per pair.
An equivalent candidate that differs in more than ``equivalent_max_pixels`` pixels is dropped. A failed
render is dropped with its error kind. Every drop is recorded in ``drops.jsonl`` and counted in ``summary.json``.

Splits are drawn per reference, not per pair: the ``k`` candidates of a group share one reference image, so a split
per pair id would put nearly every val/bench reference into train as well. A row carries its ``reference_id``.

Only deterministic failures are drops. A ``timeout`` or ``crashed`` render says as much about the machine (a
Chromium launch or a chart child starved of CPU by other processes) as about the source, and recording it as a drop
would make the kept set depend on machine load. Such jobs are rendered again, up to ``render_attempts`` times in all; a job still failing that way stops
the run with ``TransientRenderError`` before anything of its batch is recorded, so a resumed run (or one with a
larger ``timeout_s``) picks the set up exactly where it stood.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import random
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from src.data.perturb import equivalences, kind_categories, perturbations
from src.data.schema import Critique, Discrepancy
from src.data.seeds import SeedFamily, seed_functions
from src.data.shards import DROPS_FILE, SPLITS, ShardWriter, iter_jsonl, official_human_errors, split_of
from src.render.job import DOMAINS, Domain, RenderJob, RenderResult

CandidateKind = Literal["perturbed", "equivalent", "identical"]
# How many perturbations a perturbed candidate carries: 1..4 with falling weights.
PERTURBATION_COUNT_WEIGHTS: dict[int, float] = {1: 0.4, 2: 0.3, 3: 0.2, 4: 0.1}
# Paper's pipeline downscales tables to 768 px and charts/SVG to 1024 px before the judge sees them.
MAX_SIDE: dict[str, int] = {"chart": 1024, "table": 768, "svg": 1024}
# Render error kinds that can come from the machine rather than the source: retried, never recorded as a drop.
TRANSIENT_RENDER_FAILURES: frozenset[str] = frozenset({"timeout", "crashed"})


class TransientRenderError(RuntimeError):
    """A render kept timing out or crashing on every attempt; nothing of its batch was recorded."""


@dataclass(frozen=True)
class SynthesisConfig:
    """Settings of one synthesis run (the CLI flags of ``tools/synthesize.py``)."""

    domains: tuple[Domain, ...] = DOMAINS
    n_per_domain: int = 300
    seed: int = 0
    # One reference render serves this many candidates (renders per pair: 1 + 1/k).
    candidates_per_reference: int = 4
    equivalent_share: float = 0.15
    identical_share: float = 0.05
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    timeout_s: float = 15.0
    memory_mb: int = 2048
    # Pairs per domain handed to the pool in one call: large enough to keep every worker busy.
    batch_pairs: int = 48
    # A pixel counts as changed when a channel moves by more than this (antialiasing jitter stays below).
    pixel_tolerance: int = 16
    visible_min_pixels: int = 12
    equivalent_max_pixels: int = 0
    # Tries per render job before a timeout/crash stops the run (see TRANSIENT_RENDER_FAILURES).
    render_attempts: int = 3
    # "mini": the miniature reproduction's plain shapes (``src.data.seeds``), for a model small enough for a CPU.
    seed_family: SeedFamily = "full"
    # Perturbation kinds drawn from (empty: all of the domain's), e.g. only the visually obvious ones for a small model.
    perturbation_kinds: tuple[str, ...] = ()
    # At most this many perturbations a candidate (weights of PERTURBATION_COUNT_WEIGHTS, cut and renormalized).
    max_perturbations: int = 4
    # Seconds to wait before the n-th retry is n x this (a load spike gets time to pass).
    retry_pause_s: float = 1.0

    def __post_init__(self) -> None:
        for d in self.domains:
            if d not in DOMAINS:
                raise ValueError(f"domains: {d!r} is not one of {DOMAINS}")
        if self.n_per_domain < 0:
            raise ValueError(f"n_per_domain: must be >= 0, got {self.n_per_domain}")
        if self.candidates_per_reference < 1:
            raise ValueError(f"candidates_per_reference: must be >= 1, got {self.candidates_per_reference}")
        if not 0 <= self.equivalent_share + self.identical_share <= 1:
            raise ValueError("equivalent_share + identical_share must lie in [0, 1]")
        if self.workers < 1:
            raise ValueError(f"workers: must be >= 1, got {self.workers}")
        if self.render_attempts < 1:
            raise ValueError(f"render_attempts: must be >= 1, got {self.render_attempts}")
        if self.max_perturbations < 1:
            raise ValueError(f"max_perturbations: must be >= 1, got {self.max_perturbations}")
        for d in self.domains:
            unknown = set(self.perturbation_kinds) - set(perturbations(d))
            if self.perturbation_kinds and unknown == set(self.perturbation_kinds):
                raise ValueError(f"perturbation_kinds: none of {sorted(unknown)} is a {d} perturbation")
        if self.seed_family != "full":
            for d in self.domains:
                seed_functions(d, self.seed_family)  # raises for a domain the family does not cover


def pair_id(seed: int, domain: str, index: int) -> str:
    return f"{domain}-s{seed}-{index:07d}"


def reference_id(seed: int, domain: str, group: int) -> str:
    """Id of the reference a group of candidates shares; the split is drawn from it (see the module docstring)."""
    return f"{domain}-s{seed}-ref{group:07d}"


@dataclass
class CandidatePlan:
    """What one pair will be, before rendering: the candidate code and its true discrepancies."""

    pair_id: str
    domain: Domain
    index: int
    kind: CandidateKind
    reference_source: str
    candidate_source: str
    errors: tuple[Discrepancy, ...]
    perturbations: tuple[str, ...]
    # Sources after each perturbation but the last (the last is ``candidate_source``): every step is rendered and
    # must change pixels against the step before it, so no label of a composed pair is about an invisible change.
    step_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanDrop:
    """A pair that was dropped before rendering (no perturbation applied, a generator raised)."""

    pair_id: str
    domain: str
    index: int
    reason: str
    message: str = ""


def reference_spec(seed: int, domain: str, group: int, family: SeedFamily = "full") -> Any:
    return seed_functions(domain, family).make_seed(random.Random(f"{seed}/{domain}/reference/{group}"))


def plan_candidate(
    config: SynthesisConfig, domain: Domain, index: int, ref_spec: Any, ref_source: str
) -> CandidatePlan | PlanDrop:
    """Decide and build pair ``index``'s candidate from the reference spec (a pure function of the pair id)."""
    pid = pair_id(config.seed, domain, index)
    rng = random.Random(f"{config.seed}/{domain}/candidate/{index}")
    draw = rng.random()
    try:
        if draw < config.identical_share:
            return CandidatePlan(pid, domain, index, "identical", ref_source, ref_source, (), ())
        if draw < config.identical_share + config.equivalent_share:
            rewrites = equivalences(domain)
            if rewrites:
                name = rng.choice(sorted(rewrites))
                source = rewrites[name](copy.deepcopy(ref_spec), rng)
                return CandidatePlan(pid, domain, index, "equivalent", ref_source, source, (), (f"equiv:{name}",))
        table = perturbations(domain)
        if config.perturbation_kinds:
            table = {k: fn for k, fn in table.items() if k in config.perturbation_kinds}
        counts = {n: w for n, w in PERTURBATION_COUNT_WEIGHTS.items() if n <= config.max_perturbations}
        want = rng.choices(list(counts), weights=list(counts.values()))[0]
        kinds = category_balanced_order(sorted(table), kind_categories(domain), rng)
        spec = copy.deepcopy(ref_spec)  # perturbations must never reach the reference shared by the group
        errors: list[Discrepancy] = []
        applied: list[str] = []
        steps: list[str] = []
        emit = seed_functions(domain).source
        for kind in kinds:
            if len(applied) == want:
                break
            result = table[kind](spec, rng)
            if result is None:
                continue
            spec = result.spec
            errors.extend(result.errors)
            applied.append(result.kind)
            steps.append(emit(spec))
        if not applied:
            return PlanDrop(pid, domain, index, "no_applicable_perturbation")
        Critique(domain, tuple(errors))  # a label outside the domain's schema is a generator bug: fail here
        return CandidatePlan(
            pid, domain, index, "perturbed", ref_source, steps[-1], tuple(errors), tuple(applied), tuple(steps[:-1])
        )
    except Exception as exc:  # a generator bug must cost one pair and show up in the summary, not kill a long run
        return PlanDrop(pid, domain, index, "generator_error", _last_line(exc))


def category_balanced_order(kinds: list[str], category_of: dict[str, str], rng: random.Random) -> list[str]:
    """A random order of ``kinds`` in which each category comes first equally often, not each kind.

    Weighted sampling without replacement (Efraimidis-Spirakis keys u^(1/w)) with w = 1 / (kinds in the category):
    drawn uniformly, a category split into many kinds (table layout: 9 of 13) would crowd out one split into few
    (table numeric: 1 kind, 6% of the labels).
    """
    sizes = Counter(category_of.get(kind, kind) for kind in kinds)
    keys = {kind: rng.random() ** sizes[category_of.get(kind, kind)] for kind in kinds}
    return sorted(kinds, key=lambda kind: keys[kind], reverse=True)


def _last_line(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"[:500]


def changed_pixels(png_a: bytes, png_b: bytes, tolerance: int) -> int:
    """Pixels where some RGB channel moves by more than ``tolerance``; a size change counts every pixel."""
    if png_a == png_b:
        return 0
    a = np.asarray(Image.open(io.BytesIO(png_a)).convert("RGB"), dtype=np.int16)
    b = np.asarray(Image.open(io.BytesIO(png_b)).convert("RGB"), dtype=np.int16)
    if a.shape != b.shape:
        return max(a.shape[0] * a.shape[1], b.shape[0] * b.shape[1])
    return int((np.abs(a - b).max(axis=2) > tolerance).sum())


def pixel_verdict(plan: CandidatePlan, reference: bytes, candidate: bytes, config: SynthesisConfig) -> str | None:
    """``None`` when the label holds on the pixels, else the drop reason."""
    changed = changed_pixels(reference, candidate, config.pixel_tolerance)
    if plan.kind == "perturbed" and changed < config.visible_min_pixels:
        return "perturbation_invisible"
    if plan.kind != "perturbed" and changed > config.equivalent_max_pixels:
        return "equivalence_differs"
    return None


def pair_rows(
    plan: CandidatePlan, ref_path: str, cand_path: str, seed: int, reference: str
) -> tuple[str, dict[str, Any]]:
    """The manifest row of a kept pair and its split, drawn from its ``reference`` id so that a reference image
    lies in one split only (bench rows in the official VC-RewardBench layout)."""
    critique = Critique(plan.domain, plan.errors)
    split = split_of(reference)
    if split == "bench":
        return split, {
            "id": plan.pair_id,
            "reference_id": reference,
            "gt_img_path": ref_path,
            "pred_img_path": cand_path,
            "category": plan.domain,
            "human_errors": official_human_errors(critique),
            "perturbations": list(plan.perturbations),
        }
    return split, {
        "id": plan.pair_id,
        "reference_id": reference,
        "domain": plan.domain,
        "reference_image": ref_path,
        "candidate_image": cand_path,
        "reference_source": plan.reference_source,
        "candidate_source": plan.candidate_source,
        "critique": critique.to_official(),
        "kind": plan.kind,
        "perturbations": list(plan.perturbations),
        "seed": seed,
    }


class _DomainCursor:
    """Walks one domain's pair indices in order, skipping ids already recorded."""

    def __init__(self, config: SynthesisConfig, domain: Domain, writer: ShardWriter) -> None:
        self.config, self.domain, self.writer = config, domain, writer
        prefix = f"{domain}-s{config.seed}-"
        self.kept = sum(1 for pid in writer.kept_ids if pid.startswith(prefix))
        self.next_index = 0
        self.seen = 0
        self.dropped = 0

    @property
    def need(self) -> int:
        return max(0, self.config.n_per_domain - self.kept)

    def take(self) -> list[int]:
        """The next indices to render, enough (by the drop rate so far) to fill what is missing, capped per batch."""
        drop_rate = self.dropped / self.seen if self.seen else 0.1
        want = min(self.config.batch_pairs, math.ceil(self.need / max(0.2, 1.0 - drop_rate)) + 1)
        out: list[int] = []
        while len(out) < want:
            if not self.writer.is_done(pair_id(self.config.seed, self.domain, self.next_index)):
                out.append(self.next_index)
            self.next_index += 1
        return out


def synthesize(
    out_dir: str | Path, config: SynthesisConfig, progress: bool = True, pool: Any | None = None
) -> dict[str, Any]:
    """Write (or complete) a shard directory of ``config.n_per_domain`` kept pairs per domain; return the summary.

    ``pool`` lets a caller share a running ``RenderPool``; by default one is started with ``config.workers``.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    writer = ShardWriter(out_dir)
    cursors = [_DomainCursor(config, d, writer) for d in config.domains]
    run: Counter[str] = Counter()
    run_drops: Counter[str] = Counter()
    started = time.perf_counter()
    bar = tqdm(
        total=config.n_per_domain * len(cursors),
        initial=sum(min(c.kept, config.n_per_domain) for c in cursors),
        desc="pairs",
        unit="pair",
        disable=not progress,
    )

    def run_batches(render_pool: Any) -> None:
        while any(c.need for c in cursors):
            batch = [(c, c.take()) for c in cursors if c.need]
            _render_and_record(batch, render_pool, writer, config, run, run_drops, bar)

    try:
        if pool is not None:
            run_batches(pool)
        else:
            from src.render import RenderPool

            with RenderPool(workers=config.workers, timeout_s=config.timeout_s, memory_mb=config.memory_mb) as p:
                run_batches(p)
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    summary = summarize(out_dir)
    summary["config"] = asdict(config)
    summary["this_run"] = {
        "seconds": round(seconds, 2),
        "kept": run["kept"],
        "dropped": sum(run_drops.values()),
        "drop_reasons": dict(sorted(run_drops.items())),
        "renders": run["renders"],
        "retried_renders": run["retried_renders"],
        "kept_pairs_per_min": round(60.0 * run["kept"] / seconds, 1) if seconds > 0 else None,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def _render_and_record(
    batch: Sequence[tuple[_DomainCursor, list[int]]],
    pool: Any,
    writer: ShardWriter,
    config: SynthesisConfig,
    run: Counter,
    run_drops: Counter,
    bar: Any,
) -> None:
    """Plan every pair of the batch, render all distinct sources in one pool call, then record in index order."""
    k = config.candidates_per_reference
    plans: dict[str, list[CandidatePlan | PlanDrop]] = {}
    ref_source_of: dict[tuple[str, int], str | PlanDrop] = {}
    ref_specs: dict[tuple[str, int], Any] = {}
    for cursor, indices in batch:
        domain = cursor.domain
        seeds = seed_functions(domain, config.seed_family)
        items: list[CandidatePlan | PlanDrop] = []
        for index in indices:
            group = index // k
            key = (domain, group)
            if key not in ref_source_of:
                try:
                    spec = reference_spec(config.seed, domain, group, config.seed_family)
                    ref_source_of[key] = seeds.source(spec)
                    ref_specs[key] = spec
                except Exception as exc:  # see plan_candidate: one bad seed costs its group, not the run
                    ref_source_of[key] = PlanDrop("", domain, -1, "seed_error", _last_line(exc))
            ref = ref_source_of[key]
            pid = pair_id(config.seed, domain, index)
            if isinstance(ref, PlanDrop):
                items.append(PlanDrop(pid, domain, index, ref.reason, ref.message))
                continue
            items.append(plan_candidate(config, domain, index, ref_specs[key], ref))
        plans[domain] = items

    # One job per distinct (domain, source): identical candidates reuse the reference render for free.
    jobs: dict[tuple[str, str], RenderJob] = {}
    for items in plans.values():
        for plan in items:
            if isinstance(plan, CandidatePlan):
                for source in (plan.reference_source, *plan.step_sources, plan.candidate_source):
                    jobs.setdefault(
                        (plan.domain, source), RenderJob(plan.domain, source, max_side=MAX_SIDE[plan.domain])
                    )
    results = _render_with_retries(jobs, pool, config, run)

    for cursor, _ in batch:
        for plan in plans[cursor.domain]:
            if cursor.need == 0:
                break  # later indices stay unrecorded: an uninterrupted run would not have recorded them either
            cursor.seen += 1
            reason, message = _verdict(plan, results, config)
            if reason is not None:
                writer.add_drop(plan.pair_id, plan.domain, reason, message)
                cursor.dropped += 1
                run_drops[reason] += 1
                continue
            assert isinstance(plan, CandidatePlan)
            ref_png = results[(plan.domain, plan.reference_source)].png
            cand_png = results[(plan.domain, plan.candidate_source)].png
            assert ref_png is not None and cand_png is not None
            reference = reference_id(config.seed, plan.domain, plan.index // k)
            split, row = pair_rows(plan, writer.put_image(ref_png), writer.put_image(cand_png), config.seed, reference)
            writer.add_row(split, row)
            cursor.kept += 1
            run["kept"] += 1
            bar.update(1)


def _render_with_retries(
    jobs: dict[tuple[str, str], RenderJob], pool: Any, config: SynthesisConfig, run: Counter
) -> dict[tuple[str, str], RenderResult]:
    """Render every job; re-render those that failed transiently, and raise if one never gets a verdict."""
    keys = list(jobs)
    results: dict[tuple[str, str], RenderResult] = dict(zip(keys, pool.render([jobs[k] for k in keys]), strict=True))
    run["renders"] += len(keys)
    for attempt in range(1, config.render_attempts):
        again = [k for k in keys if _is_transient(results[k])]
        if not again:
            break
        time.sleep(config.retry_pause_s * attempt)
        results.update(zip(again, pool.render([jobs[k] for k in again]), strict=True))
        run["renders"] += len(again)
        run["retried_renders"] += len(again)
    stuck = [k for k in keys if _is_transient(results[k])]
    if stuck:
        domain, _ = stuck[0]
        shot = results[stuck[0]]
        raise TransientRenderError(
            f"{len(stuck)} {domain} render(s) ended in {shot.error_kind!r} on all {config.render_attempts} attempts "
            f"({shot.message[:200]}); nothing of this batch was recorded. The machine may be overloaded or timeout_s "
            f"({config.timeout_s:g} s) too small for it: run again (it resumes) or raise timeout_s"
        )
    return results


def _is_transient(result: RenderResult) -> bool:
    return not result.ok and result.error_kind in TRANSIENT_RENDER_FAILURES


def _verdict(
    plan: CandidatePlan | PlanDrop, results: dict[tuple[str, str], RenderResult], config: SynthesisConfig
) -> tuple[str | None, str]:
    if isinstance(plan, PlanDrop):
        return plan.reason, plan.message
    ref = results[(plan.domain, plan.reference_source)]
    if not ref.ok:
        return f"reference_render_{ref.error_kind}", ref.message[:500]
    cand = results[(plan.domain, plan.candidate_source)]
    if not cand.ok:
        return f"candidate_render_{cand.error_kind}", cand.message[:500]
    assert ref.png is not None and cand.png is not None
    reason = pixel_verdict(plan, ref.png, cand.png, config)
    # Name the culprit so a perturbation or equivalence that misfires can be found from drops.jsonl alone.
    if reason:
        return reason, f"{plan.kind} {','.join(plan.perturbations)}"
    if plan.step_sources:
        return _step_verdict(plan, results, config)
    return None, ""


def _step_verdict(
    plan: CandidatePlan, results: dict[tuple[str, str], RenderResult], config: SynthesisConfig
) -> tuple[str | None, str]:
    """Each perturbation of a composed pair must change pixels against the image before it was applied."""
    chain = [plan.reference_source, *plan.step_sources, plan.candidate_source]
    for step, (before, after) in enumerate(zip(chain, chain[1:], strict=False)):
        kind = plan.perturbations[step]
        shot = results[(plan.domain, after)]
        if not shot.ok:
            return f"step_render_{shot.error_kind}", f"after step {step + 1} ({kind}): {shot.message[:400]}"
        previous = results[(plan.domain, before)].png
        assert previous is not None and shot.png is not None
        if changed_pixels(previous, shot.png, config.pixel_tolerance) < config.visible_min_pixels:
            return "step_invisible", f"step {step + 1} of {','.join(plan.perturbations)} ({kind}) changed no pixels"
    return None, ""


def summarize(out_dir: str | Path) -> dict[str, Any]:
    """Histograms over everything in the shard directory (all runs, so a resumed run reports the whole set)."""
    out_dir = Path(out_dir)
    pairs: dict[str, Counter] = defaultdict(Counter)
    categories: dict[str, Counter] = defaultdict(Counter)
    severities: dict[str, Counter] = defaultdict(Counter)
    error_counts: dict[str, Counter] = defaultdict(Counter)
    kinds: dict[str, Counter] = defaultdict(Counter)
    for split in SPLITS:
        for _, row in iter_jsonl(out_dir / f"{split}.jsonl", on_corrupt="skip"):
            if split == "bench":
                domain, errors = str(row.get("category")), row.get("human_errors", [])
            else:
                domain, errors = str(row.get("domain")), row.get("critique", {}).get("errors", [])
            pairs[domain][split] += 1
            error_counts[domain][str(len(errors))] += 1
            for err in errors:
                categories[domain][str(err.get("category", err.get("type")))] += 1
                severities[domain][str(err.get("severity"))] += 1
            for kind in row.get("perturbations", []):
                kinds[domain][kind] += 1
    drops: dict[str, Counter] = defaultdict(Counter)
    for _, row in iter_jsonl(out_dir / DROPS_FILE, on_corrupt="skip"):
        drops[str(row.get("domain"))][str(row.get("reason"))] += 1

    def plain(table: dict[str, Counter]) -> dict[str, dict[str, int]]:
        return {k: dict(sorted(v.items())) for k, v in sorted(table.items())}

    kept = sum(sum(c.values()) for c in pairs.values())
    dropped = sum(sum(c.values()) for c in drops.values())
    return {
        "pairs": {d: {**dict(c), "total": sum(c.values())} for d, c in sorted(pairs.items())},
        "kept": kept,
        "dropped": dropped,
        "drop_fraction": round(dropped / (kept + dropped), 4) if kept + dropped else 0.0,
        "drop_reasons": plain(drops),
        "categories": plain(categories),
        "severities": plain(severities),
        "errors_per_pair": plain(error_counts),
        "perturbation_kinds": plain(kinds),
    }
