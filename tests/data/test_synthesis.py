"""Synthesis through the real seeds, perturbations and render pool: manifests, content-addressed PNGs, labels that
hold on the pixels, the official bench layout, drop accounting, and exact resumption after a kill."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import src.data.synthesis as synthesis
from src.data.perturb.base import Perturbation
from src.data.reward_datamodule import RewardModelDataModule
from src.data.schema import Critique, Discrepancy
from src.data.seeds import SeedFunctions, seed_functions
from src.data.shards import SPLITS
from src.data.synthesis import CandidatePlan, SynthesisConfig, changed_pixels, pixel_verdict, plan_candidate, synthesize
from src.render import RenderPool, RenderResult

pytestmark = pytest.mark.browser  # tables render in Chromium

N_PER_DOMAIN = 4
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pool():
    with RenderPool(workers=2, timeout_s=15) as render_pool:
        yield render_pool


@pytest.fixture(scope="module")
def synth_dir(pool, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, SynthesisConfig(n_per_domain=N_PER_DOMAIN, seed=0, workers=2), progress=False, pool=pool)
    return out


def manifest_rows(out: Path) -> dict[str, list[dict[str, Any]]]:
    files = {s: out / f"{s}.jsonl" for s in SPLITS}
    return {s: [json.loads(x) for x in f.read_text().splitlines()] if f.exists() else [] for s, f in files.items()}


def all_lines(out: Path) -> set[tuple[str, str]]:
    return {(f.name, line) for f in out.glob("*.jsonl") for line in f.read_text().splitlines()}


def test_writes_manifests_pngs_and_summary(synth_dir: Path) -> None:
    rows = manifest_rows(synth_dir)
    ours = rows["train"] + rows["val"]
    assert len(ours) + len(rows["bench"]) == 3 * N_PER_DOMAIN
    for row in ours:
        assert {"id", "domain", "reference_image", "candidate_image", "reference_source", "candidate_source"} <= set(
            row
        )
        assert {"critique", "perturbations", "seed"} <= set(row)
        critique = Critique.from_official(row["critique"], row["domain"])
        assert critique.to_official() == row["critique"]  # counts derived from the list, official key names
        assert len(critique.errors) <= 4
        assert (len(critique.errors) > 0) == (row["kind"] == "perturbed")
        assert (len(row["perturbations"]) > 0) == (row["kind"] != "identical")
        assert row["id"].startswith(f"{row['domain']}-s0-")
    for row in rows["bench"]:
        assert {"gt_img_path", "pred_img_path", "category", "human_errors"} <= set(row)
        assert row["category"] in ("chart", "table", "svg")
        for err in row["human_errors"]:
            assert err["type"] == err["category"] and err["type"].endswith("_error")
            assert err["severity"] in (1, 2, 3)
        Critique.from_official({"errors": row["human_errors"]}, row["category"])
    for png in (synth_dir / "images").rglob("*.png"):
        data = png.read_bytes()
        assert png.stem == hashlib.sha256(data).hexdigest() and png.parent.name == png.stem[:2]
        assert Image.open(io.BytesIO(data)).format == "PNG"
    summary = json.loads((synth_dir / "summary.json").read_text())
    assert {d: summary["pairs"][d]["total"] for d in ("chart", "table", "svg")} == dict.fromkeys(
        ("chart", "table", "svg"), N_PER_DOMAIN
    )
    drops = (synth_dir / "drops.jsonl").read_text().splitlines() if (synth_dir / "drops.jsonl").exists() else []
    assert summary["dropped"] == len(drops) == sum(sum(r.values()) for r in summary["drop_reasons"].values())
    assert sum(summary["errors_per_pair"]["chart"].values()) == N_PER_DOMAIN


def test_labels_hold_on_the_pixels(synth_dir: Path) -> None:
    rows = manifest_rows(synth_dir)
    for row in rows["train"] + rows["val"]:
        ref = (synth_dir / row["reference_image"]).read_bytes()
        cand = (synth_dir / row["candidate_image"]).read_bytes()
        changed = changed_pixels(ref, cand, SynthesisConfig.pixel_tolerance)
        if row["critique"]["errors"]:
            assert changed >= SynthesisConfig.visible_min_pixels, row["id"]
        else:
            assert changed <= SynthesisConfig.equivalent_max_pixels, row["id"]


def test_pairs_are_a_pure_function_of_their_id() -> None:
    config = SynthesisConfig(n_per_domain=1)
    for domain in ("chart", "table", "svg"):
        funcs = seed_functions(domain)
        spec = synthesis.reference_spec(0, domain, 2)
        first = plan_candidate(config, domain, 7, spec, funcs.source(spec))
        again_spec = synthesis.reference_spec(0, domain, 2)
        again = plan_candidate(config, domain, 7, again_spec, funcs.source(again_spec))
        assert first == again
        assert funcs.source(spec) == funcs.source(again_spec)  # the reference was not touched by perturbing


def test_resume_after_a_kill_gives_the_same_set(pool, synth_dir: Path, tmp_path: Path) -> None:
    class DiesOnSecondBatch:
        calls = 0

        def render(self, jobs):
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt  # what a Ctrl-C or a kill between two batches looks like
            return pool.render(jobs)

    # Small batches: the kill lands with part of every domain written; the final set must not depend on them.
    config = SynthesisConfig(n_per_domain=N_PER_DOMAIN, seed=0, workers=2, batch_pairs=3)
    with pytest.raises(KeyboardInterrupt):
        synthesize(tmp_path, config, progress=False, pool=DiesOnSecondBatch())
    partial = all_lines(tmp_path)
    assert 0 < len(partial) < len(all_lines(synth_dir))
    with open(tmp_path / "train.jsonl", "a") as f:
        f.write('{"id": "chart-s0-00000')  # and a write torn in the middle of a line
    with pytest.warns(UserWarning, match="torn last line"):
        synthesize(tmp_path, config, progress=False, pool=pool)
    assert all_lines(tmp_path) == all_lines(synth_dir)
    ids = [r["id"] for rows in manifest_rows(tmp_path).values() for r in rows]
    assert len(ids) == len(set(ids)) == 3 * N_PER_DOMAIN
    # A third run has nothing left to do and renders nothing.
    summary = synthesize(tmp_path, config, progress=False, pool=pool)
    assert summary["this_run"]["renders"] == 0 and all_lines(tmp_path) == all_lines(synth_dir)


class FlakyPool:
    """The real pool, except that a job's first ``fail_times`` renders time out (a machine under load)."""

    def __init__(self, pool: RenderPool, domain: str, fail_times: int = 1, kind: str = "timeout") -> None:
        self.pool, self.domain, self.fail_times, self.kind = pool, domain, fail_times, kind
        self.seen: dict[str, int] = {}

    def render(self, jobs):
        results = self.pool.render(jobs)
        out = []
        for job, result in zip(jobs, results, strict=True):
            self.seen[job.source] = self.seen.get(job.source, 0) + 1
            if job.domain == self.domain and self.seen[job.source] <= self.fail_times:
                result = RenderResult.failure(self.kind, "simulated: starved of CPU")
            out.append(result)
        return out


@pytest.mark.parametrize("kind", ["timeout", "crashed"])
def test_a_render_that_fails_only_under_load_is_retried_not_dropped(
    pool, synth_dir: Path, tmp_path: Path, kind: str
) -> None:
    """Timeouts and crashes depend on the machine: the kept set must be the one an idle machine gives."""
    config = SynthesisConfig(n_per_domain=N_PER_DOMAIN, seed=0, workers=2, retry_pause_s=0.0)
    summary = synthesize(tmp_path, config, progress=False, pool=FlakyPool(pool, "table", kind=kind))
    assert summary["this_run"]["retried_renders"] > 0
    assert all_lines(tmp_path) == all_lines(synth_dir)
    assert not any(reason.endswith(kind) for reasons in summary["drop_reasons"].values() for reason in reasons)


def test_a_render_that_never_gets_a_verdict_stops_the_run_and_resumes(pool, synth_dir: Path, tmp_path: Path) -> None:
    config = SynthesisConfig(n_per_domain=N_PER_DOMAIN, seed=0, workers=2, retry_pause_s=0.0, render_attempts=2)
    with pytest.raises(synthesis.TransientRenderError, match="on all 2 attempts"):
        synthesize(tmp_path, config, progress=False, pool=FlakyPool(pool, "svg", fail_times=2))
    drops = tmp_path / "drops.jsonl"
    assert not drops.exists() or "timeout" not in drops.read_text()
    synthesize(tmp_path, config, progress=False, pool=pool)
    assert all_lines(tmp_path) == all_lines(synth_dir)


def test_no_reference_image_of_val_or_bench_is_in_train(pool, tmp_path: Path) -> None:
    """Candidates share their reference: splits are drawn per reference, so no val/bench image leaks into train."""
    config = SynthesisConfig(domains=("svg",), n_per_domain=40, seed=0, workers=2, candidates_per_reference=4)
    synthesize(tmp_path, config, progress=False, pool=pool)
    rows = manifest_rows(tmp_path)
    images = {
        split: {r.get("reference_image", r.get("gt_img_path")) for r in split_rows}
        | {r.get("candidate_image", r.get("pred_img_path")) for r in split_rows}
        for split, split_rows in rows.items()
    }
    held_out = [r for split in ("val", "bench") for r in rows[split]]
    assert held_out, "the set must hold val/bench pairs for this test to mean anything"
    assert not images["train"] & (images["val"] | images["bench"])
    assert not images["val"] & images["bench"]
    references = {split: {r["reference_id"] for r in split_rows} for split, split_rows in rows.items()}
    assert not references["train"] & (references["val"] | references["bench"])


def test_cli_resumes_after_sigkill(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    cmd = [sys.executable, str(REPO / "tools/synthesize.py"), "--domains", "svg", "--n", "10", "--out", str(out)]
    cmd += ["--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(out.glob("*.jsonl")) and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs"]["svg"]["total"] == 10
    ids = [r["id"] for rows in manifest_rows(out).values() for r in rows]
    assert len(ids) == len(set(ids)) == 10


def test_failed_renders_and_generator_bugs_are_dropped_and_counted(pool, tmp_path: Path, monkeypatch) -> None:
    chart = seed_functions("chart")

    class Broken:
        def __init__(self, spec: Any) -> None:
            self.spec = spec

    def breaks_the_code(spec, rng):
        return Perturbation("break", Broken(spec), (Discrepancy("structure", 3, "whole chart", "does not render"),))

    def raises(spec, rng):
        raise KeyError("no such series")

    def source(spec: Any) -> str:
        return "raise RuntimeError('broken on purpose')" if isinstance(spec, Broken) else chart.source(spec)

    monkeypatch.setattr(
        synthesis, "seed_functions", lambda domain, family="full": SeedFunctions(chart.make_seed, source)
    )
    config = SynthesisConfig(domains=("chart",), n_per_domain=2, equivalent_share=0.0, identical_share=0.5)
    drops = {}
    for name, fn in (("break", breaks_the_code), ("raise", raises)):
        monkeypatch.setattr(synthesis, "perturbations", lambda domain, name=name, fn=fn: {name: fn})
        summary = synthesize(tmp_path / name, config, progress=False, pool=pool)
        assert summary["pairs"]["chart"]["total"] == 2  # the identical pairs still come through
        drops[name] = [json.loads(x) for x in (tmp_path / name / "drops.jsonl").read_text().splitlines()]
        assert summary["dropped"] == len(drops[name]) > 0
    assert {d["reason"] for d in drops["break"]} == {"candidate_render_runtime"}
    assert all("broken on purpose" in d["message"] for d in drops["break"])
    assert {d["reason"] for d in drops["raise"]} == {"generator_error"}
    assert all("KeyError" in d["message"] and "test_synthesis.py" in d["message"] for d in drops["raise"])


def _png(color: str, box: tuple[int, int, int, int] | None = None) -> bytes:
    img = Image.new("RGB", (80, 60), "white")
    if box is not None:
        img.paste(Image.new("RGB", (box[2] - box[0], box[3] - box[1]), color), box[:2])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_pixel_verdicts() -> None:
    config = SynthesisConfig()
    base = _png("red", (10, 10, 30, 30))
    moved = _png("red", (12, 10, 32, 30))
    tiny = _png("red", (10, 10, 30, 31))  # one extra row of 20 px... just above the visibility floor
    plan = CandidatePlan("id", "chart", 0, "perturbed", "a", "b", (Discrepancy("style", 1),), ("x",))
    equivalent = CandidatePlan("id", "chart", 0, "equivalent", "a", "b", (), ("equiv:x",))
    assert pixel_verdict(plan, base, base, config) == "perturbation_invisible"
    assert pixel_verdict(plan, base, moved, config) is None
    assert changed_pixels(base, tiny, 16) == 20 and pixel_verdict(plan, base, tiny, config) is None
    assert pixel_verdict(equivalent, base, base, config) is None
    assert pixel_verdict(equivalent, base, moved, config) == "equivalence_differs"
    assert changed_pixels(base, _png("red", None)[:], 16) == 400


def test_datamodule_synthesizes_a_missing_set(tmp_path: Path) -> None:
    dm = RewardModelDataModule(data_dir=str(tmp_path / "auto"), synthesize_if_missing=2, num_workers=0)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_pairs) + len(dm.val_pairs) + len(manifest_rows(tmp_path / "auto")["bench"]) == 6


def _png(colour: tuple[int, int, int], box: tuple[int, int, int, int] | None = None) -> bytes:
    image = Image.new("RGB", (40, 40), "white")
    if box is not None:
        image.paste(colour, box)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_every_step_of_a_composed_pair_must_change_pixels() -> None:
    """A composed pair whose second perturbation changed nothing visible is dropped, naming that step."""
    from src.data.synthesis import _verdict
    from src.render import RenderResult

    errors = (Discrepancy("data", 2, "bar 'Q1'", "taller"), Discrepancy("style", 1, "bar 'Q2'", "recoloured"))
    shots = {"ref": _png((0, 0, 0)), "s1": _png((200, 0, 0), (0, 0, 20, 20)), "s2": _png((200, 0, 0), (0, 0, 20, 20))}
    results = {("chart", src): RenderResult(ok=True, png=png) for src, png in shots.items()}
    config = SynthesisConfig(n_per_domain=1)
    invisible_second = CandidatePlan(
        "p", "chart", 0, "perturbed", "ref", "s2", errors, ("data_value", "color"), ("s1",)
    )
    reason, message = _verdict(invisible_second, results, config)
    assert reason == "step_invisible" and "step 2" in message and "color" in message

    shots["s2"] = _png((0, 0, 200), (10, 10, 40, 40))
    results[("chart", "s2")] = RenderResult(ok=True, png=shots["s2"])
    assert _verdict(invisible_second, results, config) == (None, "")


def test_planned_steps_end_at_the_candidate() -> None:
    """A perturbed plan's intermediate sources are the spec after each step but the last."""
    config = SynthesisConfig(n_per_domain=40, seed=0)
    seeds = seed_functions("chart")
    composed = []
    for index in range(40):
        spec = synthesis.reference_spec(0, "chart", index)
        plan = plan_candidate(config, "chart", index, spec, seeds.source(spec))
        if isinstance(plan, CandidatePlan) and plan.kind == "perturbed":
            assert len(plan.step_sources) == len(plan.perturbations) - 1
            assert plan.candidate_source not in plan.step_sources
            if plan.step_sources:
                composed.append(plan)
    assert composed, "no composed pair among 40 plans"


@pytest.mark.parametrize("domain", ["chart", "table", "svg"])
def test_every_kind_declares_the_category_its_labels_carry(domain: str) -> None:
    import copy
    import random

    from src.data.perturb import kind_categories, perturbations

    declared = kind_categories(domain)
    assert set(declared) == set(perturbations(domain))
    seeds = seed_functions(domain)
    seen: dict[str, set[str]] = {kind: set() for kind in declared}
    for s in range(30):
        spec = seeds.make_seed(random.Random(s))
        for kind, fn in perturbations(domain).items():
            result = fn(copy.deepcopy(spec), random.Random(s))
            if result is not None:
                seen[kind].update(e.category for e in result.errors)
    for kind, category in declared.items():
        assert not seen[kind] or category in seen[kind], (kind, category, seen[kind])


def test_category_balanced_order_puts_each_category_first_equally_often() -> None:
    import random
    from collections import Counter

    from src.data.perturb import kind_categories
    from src.data.synthesis import category_balanced_order

    category_of = kind_categories("table")  # 9 layout kinds, 3 text, 1 numeric
    rng = random.Random(0)
    firsts = Counter(
        category_of[category_balanced_order(sorted(category_of), category_of, rng)[0]] for _ in range(3000)
    )
    for category in ("layout", "text", "numeric"):
        assert abs(firsts[category] / 3000 - 1 / 3) < 0.04, firsts


@pytest.mark.parametrize("domain", ["chart", "table", "svg"])
def test_a_composed_pair_keeps_the_labels_of_every_step(domain: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate with 2-4 perturbations carries every error each applied perturbation reported, in order, in its
    plan and in the manifest row it is written as (our layout and the official bench layout)."""
    from src.data.perturb import perturbations

    applied: list[Perturbation] = []

    def recording(fn):  # noqa: ANN001, ANN202
        def perturb(spec, rng):  # noqa: ANN001, ANN202
            result = fn(spec, rng)
            if result is not None:
                applied.append(result)
            return result

        return perturb

    table = {kind: recording(fn) for kind, fn in perturbations(domain).items()}
    monkeypatch.setattr(synthesis, "perturbations", lambda d: table)
    config = SynthesisConfig(n_per_domain=60, seed=0)
    seeds = seed_functions(domain)
    reference_ids = [synthesis.reference_id(0, domain, g) for g in range(200)]
    splits = {synthesis.split_of(r): r for r in reversed(reference_ids)}
    assert {"train", "bench"} <= set(splits)
    composed = 0
    for index in range(60):
        applied.clear()
        spec = synthesis.reference_spec(0, domain, index)
        plan = plan_candidate(config, domain, index, spec, seeds.source(spec))
        if not isinstance(plan, CandidatePlan) or len(plan.perturbations) < 2:
            continue
        composed += 1
        assert plan.perturbations == tuple(p.kind for p in applied)
        assert plan.errors == tuple(e for p in applied for e in p.errors)
        for split in ("train", "bench"):
            _, row = synthesis.pair_rows(plan, "ref.png", "cand.png", 0, splits[split])
            labels = row["human_errors"] if split == "bench" else row["critique"]["errors"]
            assert len(labels) == len(plan.errors)
            assert sorted(e["severity"] for e in labels) == sorted(e.severity for e in plan.errors)
    assert composed >= 5, f"only {composed} composed pairs among 60 plans"
