"""Reward-hacking probes on two seed charts: the candidates are what they claim to be, and the table reports the tiny
judge and two pixel baselines honestly (pixel rewards see a minor error; a judge that cannot parse orders nothing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from src.engines.engine import SamplingSettings
from src.eval.probes import (
    CANDIDATES,
    PROBES,
    RenderedProbeSet,
    build_chart_probes,
    build_probes,
    render_probes,
    score_probes,
)
from src.render import RenderPool
from src.reward.baselines import PixelMSEReward, SSIMReward
from src.reward.critic_profile import CriticProfile
from src.reward.judge import VisualERMJudge
from src.reward.pair import load_reference
from src.reward.reward import RewardConfig

REFERENCES = 2


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("probe-render-cache")


@pytest.fixture(scope="module")
def rendered(cache_dir: Path) -> Iterator[list[RenderedProbeSet]]:
    with RenderPool(workers=2, cache_dir=cache_dir) as pool:
        yield render_probes(build_chart_probes(REFERENCES, seed=0), pool)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(load_reference(png))


def test_probe_sets_are_reproducible_and_every_candidate_is_different_code() -> None:
    first, again = build_chart_probes(REFERENCES, seed=0), build_chart_probes(REFERENCES, seed=0)
    assert first == again
    assert build_chart_probes(REFERENCES, seed=1) != first
    for probes in first:
        assert probes.candidates["exact"] == probes.reference_source
        assert len(set(probes.candidates.values())) == len(CANDIDATES)  # nine distinct programs
        assert set(probes.notes) == {"minor_error", "severe_error", "wrong_chart_type"}


def test_candidates_render_to_what_they_claim(rendered: list[RenderedProbeSet]) -> None:
    for probes in rendered:
        assert all(r.ok for r in probes.renders.values()), {k: r.error_kind for k, r in probes.renders.items()}
        reference = pixels(probes.reference_png)
        same = {
            name: pixels(r.png).shape == reference.shape and np.array_equal(pixels(r.png), reference)
            for name, r in probes.renders.items()
            if r.png is not None
        }
        # Only the exact code and its equivalent rewrite reproduce the reference's pixels.
        assert [name for name, equal in same.items() if equal] == ["exact", "equivalent_rewrite"]


def test_table_for_the_tiny_judge_and_two_baselines(rendered: list[RenderedProbeSet], tiny_model_dir: Path) -> None:
    from src.engines.hf_engine import HFEngine

    judge = VisualERMJudge(
        HFEngine.from_pretrained(tiny_model_dir),
        profile=CriticProfile(sampling=SamplingSettings(temperature=0.0, max_new_tokens=4)),
        reward=RewardConfig(normalization="fixed", unparseable_severity=25.0),
        retries=0,
    )
    # One reference keeps the judge's 8 prompts within a few seconds of CPU.
    report = score_probes(rendered[:1], {"tiny-judge": judge, "mse": PixelMSEReward(), "ssim": SSIMReward()})
    outcome = {(o.reward, o.probe): o for o in report.outcomes}
    assert len(report.outcomes) == 3 * len(PROBES)
    assert all(o.pairs == 1 for o in report.outcomes)
    for reward in ("mse", "ssim"):  # a copy of the reference's pixels beats any visible change
        assert outcome[(reward, "minor_error")].rate == 1.0
        assert outcome[(reward, "equivalent_rewrite")].rate == 1.0
        assert report.mean_scores[reward]["exact"] == pytest.approx(1.0, abs=1e-4)
    # A random judge writes no critique: every rendered candidate gets the same fallback, so nothing is ordered.
    assert all(outcome[("tiny-judge", kind)].ties == 1 for kind in PROBES)
    assert set(report.mean_scores["tiny-judge"].values()) == {1.5}

    markdown = report.to_markdown()
    assert "| probe | expected | tiny-judge | mse | ssim |" in markdown
    assert "| wrong_numbers | minor_error > wrong_numbers | 0.00 (1 ties) |" in markdown
    data = json.loads(report.to_json())
    assert data["domain"] == "chart"
    assert data["references"] == 1
    assert {o["probe"] for o in data["outcomes"]} == set(PROBES)
    assert data["mean_scores"]["mse"]["exact"] == pytest.approx(1.0, abs=1e-6)


def test_tool_writes_markdown_and_json(cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("probe_rewards", Path(__file__).parents[2] / "tools/probe_rewards.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    out = tmp_path / "probes"
    code = tool.main(["--references", "1", "--out", str(out), "--cache-dir", str(cache_dir)])
    assert code == 0
    assert "| render | mse | ssim |" in (out / "probes.md").read_text()
    assert json.loads((out / "probes.json").read_text())["chart"]["references"] == 1
    assert "wrong_chart_type" in capsys.readouterr().out

    assert tool.main(["--out", str(out), "--reward", "nonsense"]) == 2
    assert "expected NAME=YAML" in capsys.readouterr().err


def test_table_and_svg_probes_keep_the_candidates_that_mean_something() -> None:
    for table in build_probes("table", 3, seed=0):
        assert {"exact", "equivalent_rewrite", "minor_error", "severe_error", "blank_figure", "text_only"} <= set(
            table.candidates
        )
        assert "wrong_chart_type" not in table.candidates
        assert len(set(table.candidates.values())) == len(table.candidates)
        assert "<table" in table.candidates["text_only"] or "|" in table.candidates["text_only"]
    for svg in build_probes("svg", 3, seed=0):
        assert not {"wrong_chart_type", "wrong_numbers"} & set(svg.candidates)
        assert "<text" not in svg.candidates["blank_figure"]
        if "text_only" in svg.candidates:
            assert "<text" in svg.candidates["text_only"] and "<rect" not in svg.candidates["text_only"]


def test_svg_probes_render_and_missing_probes_read_n_a(cache_dir: Path, rendered: list[RenderedProbeSet]) -> None:
    with RenderPool(workers=2, cache_dir=cache_dir) as pool:
        rendered_svg = render_probes(build_probes("svg", 2, seed=0), pool)
    report = score_probes(rendered_svg, {"mse": PixelMSEReward()})
    chart_report = score_probes(rendered, {"mse": PixelMSEReward()})  # both references this time
    assert {o.probe: o.rate for o in chart_report.outcomes}["minor_error"] == 1.0
    outcome = {o.probe: o for o in report.outcomes}
    assert outcome["wrong_chart_type"].pairs == 0 and outcome["wrong_chart_type"].rate is None
    assert outcome["minor_error"].rate == 1.0
    assert "| wrong_chart_type | minor_error > wrong_chart_type | n/a |" in report.to_markdown()
    assert report.mean_scores["mse"]["wrong_numbers"] is None
    with pytest.raises(ValueError, match="one domain at a time"):
        score_probes([*rendered_svg, *rendered], {})


@pytest.mark.browser
def test_table_probes_render_in_chromium(cache_dir: Path) -> None:
    with RenderPool(workers=1, cache_dir=cache_dir) as pool:
        (table,) = render_probes(build_probes("table", 1, seed=0), pool)
    assert all(r.ok for r in table.renders.values()), {k: r.error_kind for k, r in table.renders.items()}
    reference = pixels(table.reference_png)
    identical = [
        name
        for name, r in table.renders.items()
        if r.png is not None and pixels(r.png).shape == reference.shape and np.array_equal(pixels(r.png), reference)
    ]
    assert identical == ["exact", "equivalent_rewrite"]
