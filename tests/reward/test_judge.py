"""VisualERMJudge: failed renders skip the engine, unparseable critiques are re-asked then fall back, rewards follow
the critic per GRPO group, and the judge is built from YAML like every other component."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from jsonargparse import ArgumentParser
from PIL import Image

from src.data.schema import Critique
from src.engines.engine import ChatRequest, Completion, SamplingSettings
from src.render.job import RenderResult
from src.reward.critic_profile import CriticProfile, builtin_profile, save_profile
from src.reward.judge import VisualERMJudge
from src.reward.pair import PairError, RewardFunction, RewardPair, load_reference
from src.reward.parse import CritiqueParseError
from src.reward.reward import RewardConfig
from tests.reward.conftest import ScriptedEngine, bars_image, png_bytes, rendered

PUBLIC = RewardConfig(normalization="fixed", fixed_scale=50.0, unparseable_severity=25.0)
REFERENCE = bars_image([10, 40, 25, 50])


def pair(candidate: RenderResult, group: object = None) -> RewardPair:
    return RewardPair(reference=REFERENCE, candidate=candidate, domain="chart", group=group)


def test_rewards_follow_what_the_critic_saw_and_failed_renders_never_reach_it() -> None:
    engine = ScriptedEngine()
    judge = VisualERMJudge(engine, reward=PUBLIC)
    pairs = [
        pair(rendered(REFERENCE)),  # identical: S = 0
        pair(
            rendered(bars_image([10, 40, 25, 40]))
        ),  # last bar lower by 10 px: only the top-right quarter differs, S = 2
        pair(rendered(bars_image([50, 10, 45, 20]))),  # every bar differs: S = 8
        pair(RenderResult.failure("syntax", "invalid syntax")),
        pair(RenderResult.failure("blank", "all background")),
    ]
    result = judge.judge(pairs)

    assert result.rewards == pytest.approx([2.0, 1.96, 1.84, 0.0, 0.0])
    assert len(engine.requests) == 3  # only the rendered candidates were judged
    assert [c.severity_sum if isinstance(c, Critique) else c for c in result.critiques] == [0, 2, 8, None, None]
    assert [p.breakdown.error_kind for p in result.pairs[3:]] == ["syntax", "blank"]
    assert result.parse_rate == 1.0
    assert judge(pairs) == result.rewards  # the RewardFunction form
    assert isinstance(judge, RewardFunction)


def test_reference_goes_first_and_the_profile_decides_request_and_sampling() -> None:
    sampling = SamplingSettings(temperature=0.7, top_p=0.8, top_k=20, max_new_tokens=64, seed=3)
    engine = ScriptedEngine()
    profile = CriticProfile(name="jpeg", image_format="jpeg", sampling=sampling)
    candidate = bars_image([5, 5, 5, 5])
    VisualERMJudge(engine, profile=profile).judge([pair(rendered(candidate))])

    (request,) = engine.requests
    images = [p["image"] for p in request.messages[-1]["content"] if p["type"] == "image"]
    assert np.array_equal(np.asarray(images[0]), np.asarray(REFERENCE))
    assert np.array_equal(np.asarray(images[1]), np.asarray(candidate))
    assert request.image_format == "jpeg"
    assert engine.samplings == [sampling]


def test_unparseable_critique_is_asked_again_then_gets_the_fallback() -> None:
    # Pair 0 is always garbage; pair 1 answers properly on its second try; pair 2 parses at once.
    def script(request: ChatRequest, call: int) -> str:
        images = [p["image"] for p in request.messages[-1]["content"] if p["type"] == "image"]
        heights_key = images[1].getpixel((images[1].width - 5, images[1].height - 1))
        if heights_key == (255, 0, 0):
            return "The images look different to me."
        if heights_key == (0, 128, 0) and call == 0:
            return '{"errors": [{"category": "data_error", "severity": '  # truncated mid-answer
        return json.dumps({"errors": [{"category": "style_error", "severity": 1, "location": "x", "description": "y"}]})

    engine = ScriptedEngine(script)
    judge = VisualERMJudge(engine, reward=PUBLIC, retries=2)
    pairs = [pair(rendered(bars_image([10, 40, 25, 50], color=c))) for c in ("#ff0000", "#008000", "#0000ff")]
    result = judge.judge(pairs)

    assert [p.attempts for p in result.pairs] == [3, 2, 1]
    assert [len(call) for call in engine.calls] == [3, 2, 1]  # re-asks batch only the failures
    assert isinstance(result.critiques[0], CritiqueParseError)
    assert result.pairs[0].breakdown.severity_sum == 25.0  # public code's fallback
    assert result.rewards == pytest.approx([1.5, 1.98, 1.98])
    assert result.parse_rate == pytest.approx(2 / 3)
    assert result.pairs[0].answer == "The images look different to me."


def test_no_retries_means_one_ask() -> None:
    engine = ScriptedEngine(lambda request, call: "no json here")
    result = VisualERMJudge(engine, reward=PUBLIC, retries=0).judge([pair(rendered(REFERENCE))])
    assert len(engine.calls) == 1 and result.rewards == [1.5]


def test_retry_varies_a_fixed_seed_so_the_re_ask_can_differ() -> None:
    engine = ScriptedEngine(lambda request, call: "garbage")
    profile = CriticProfile(sampling=SamplingSettings(temperature=0.7, seed=11))
    VisualERMJudge(engine, profile=profile, retries=2).judge([pair(rendered(REFERENCE))])
    assert [s.seed for s in engine.samplings if s is not None] == [11, 12, 13]


def test_engine_error_counts_as_unparseable_not_a_crash() -> None:
    engine = ScriptedEngine(lambda request, call: Completion(text="", finish_reason="error", error="timed out"))
    result = VisualERMJudge(engine, reward=PUBLIC, retries=1).judge([pair(rendered(REFERENCE))])
    critique = result.critiques[0]
    assert isinstance(critique, CritiqueParseError) and "timed out" in critique.reason
    assert result.rewards == [1.5] and result.pairs[0].attempts == 2


def test_group_max_normalizes_within_each_group() -> None:
    paper = RewardConfig(normalization="group_max")
    judge = VisualERMJudge(ScriptedEngine(), reward=paper)
    one_quarter, all_quarters = bars_image([10, 40, 25, 40]), bars_image([50, 10, 45, 20])
    pairs = [
        pair(rendered(REFERENCE), group="a"),  # S = 0
        pair(rendered(one_quarter), group="a"),  # S = 2 = group max
        pair(rendered(one_quarter), group="b"),  # S = 2
        pair(rendered(all_quarters), group="b"),  # S = 8 = group max
    ]
    assert judge(pairs) == pytest.approx([2.0, 1.0, 1.75, 1.0], abs=1e-6)


def test_batches_are_capped_and_every_pair_gets_a_timing() -> None:
    engine = ScriptedEngine()
    result = VisualERMJudge(engine, batch_size=2).judge([pair(rendered(REFERENCE)) for _ in range(5)])
    assert [len(call) for call in engine.calls] == [2, 2, 1]
    assert all(p.judge_seconds > 0 and p.render_seconds == 0.01 for p in result.pairs)
    assert result.seconds >= max(p.judge_seconds for p in result.pairs)


def test_an_engine_that_drops_answers_is_an_error_with_the_counts() -> None:
    class Lossy(ScriptedEngine):
        def generate(self, requests, n=1, sampling=None):  # type: ignore[no-untyped-def]
            return super().generate(requests, n, sampling)[:-1]

    with pytest.raises(RuntimeError, match="1 answers for 2 requests"):
        VisualERMJudge(Lossy()).judge([pair(rendered(REFERENCE)), pair(rendered(REFERENCE))])


def test_bad_inputs_are_typed_errors() -> None:
    with pytest.raises(PairError, match="domain"):
        RewardPair(reference=REFERENCE, candidate=rendered(REFERENCE), domain="slides")
    with pytest.raises(PairError, match="not a readable image"):
        load_reference(b"not a png")
    with pytest.raises(PairError, match="cannot read"):
        load_reference("/nonexistent/reference.png")
    with pytest.raises(PairError, match="RewardPair"):
        VisualERMJudge(ScriptedEngine()).judge(["a pair"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="mixes domains"):
        VisualERMJudge(ScriptedEngine()).judge(
            [pair(rendered(REFERENCE), group=1), RewardPair(REFERENCE, rendered(REFERENCE), "svg", group=1)]
        )
    with pytest.raises(ValueError, match="retries"):
        VisualERMJudge(ScriptedEngine(), retries=-1)
    assert load_reference(png_bytes(REFERENCE)).size == REFERENCE.size
    assert load_reference(Image.new("RGBA", (8, 8))).mode == "RGB"


def test_built_from_yaml_through_jsonargparse(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "judge.yaml"
    config.write_text(
        "judge:\n"
        "  class_path: src.reward.judge.VisualERMJudge\n"
        "  init_args:\n"
        "    engine: {class_path: tests.reward.conftest.ScriptedEngine}\n"
        "    profile: {name: public, image_format: jpeg, sampling: {temperature: 0.7, max_new_tokens: 4096}}\n"
        "    reward: {normalization: fixed, fixed_scale: 50}\n"
        "    retries: 1\n"
    )
    parser = ArgumentParser()
    parser.add_argument("--config", action="config")
    parser.add_argument("--judge", type=VisualERMJudge)
    judge = parser.instantiate_classes(parser.parse_args(["--config", str(config)])).judge
    assert isinstance(judge, VisualERMJudge) and isinstance(judge.engine, ScriptedEngine)
    assert judge.profile.image_format == "jpeg" and judge.profile.sampling.max_new_tokens == 4096
    assert judge.reward.normalization == "fixed" and judge.retries == 1
    assert judge([pair(rendered(REFERENCE))]) == [2.0]


def test_each_domain_is_sampled_as_its_profile_says_and_a_profile_loads_from_a_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = builtin_profile()
    svg_sampling = SamplingSettings(temperature=0.3, max_new_tokens=32)
    domains = {**base.domains, "svg": replace(base.domains["svg"], sampling=svg_sampling)}
    path = save_profile(replace(base, name="mixed", domains=domains), tmp_path / "profile.json")
    engine = ScriptedEngine(lambda request, call: '{"errors": []}')
    judge = VisualERMJudge(engine, profile=str(path))
    pairs = [pair(rendered(REFERENCE)), RewardPair(REFERENCE, rendered(REFERENCE), "svg"), pair(rendered(REFERENCE))]
    assert judge(pairs) == [2.0, 2.0, 2.0]
    assert judge.profile.name == "mixed"
    assert [len(call) for call in engine.calls] == [2, 1]  # one engine call per domain: sampling differs
    assert engine.samplings == [base.sampling, svg_sampling]


def test_the_tiny_model_judges_through_the_real_hf_engine(tiny_model_dir) -> None:  # type: ignore[no-untyped-def]
    from src.engines.hf_engine import HFEngine

    engine = HFEngine.from_pretrained(tiny_model_dir)
    profile = CriticProfile(sampling=SamplingSettings(temperature=1.0, max_new_tokens=12, seed=0))
    judge = VisualERMJudge(engine, profile=profile, reward=PUBLIC, retries=1)
    result = judge.judge([pair(rendered(bars_image([10, 40, 25, 45]))), pair(RenderResult.failure("syntax", "x"))])

    # A random 12-token critic writes no JSON: asked twice, then the public code's fallback severity (25).
    first = result.pairs[0]
    assert first.attempts == 2 and isinstance(first.critique, CritiqueParseError)
    assert first.answer is not None and first.answer != "" and first.judge_seconds > 0
    assert result.rewards == [1.5, 0.0] and result.pairs[1].attempts == 0
