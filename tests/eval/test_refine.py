"""Reflection & revision with an oracle judge and a policy stand-in, through the real render pool and VisualERMJudge.

The world: an SVG of three filled circles. The oracle judge's engine looks at the rendered pixels at the circles'
true centres (it knows where they are) and reports what differs; the policy stand-in fixes the first (most severe)
point it is told about per round. A draft with three errors must improve round by round and stop once clean.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence

import pytest
from PIL import Image

from src.engines.engine import ChatRequest, Completion, SamplingSettings, WeightUpdate
from src.eval.refine import RefineTask, ReflectiveRefiner, Version, best_of_n, feedback_text, revision_messages
from src.render import RenderPool
from src.render.job import RenderJob, RenderResult
from src.reward.baselines.pixel import SSIMReward
from src.reward.judge import VisualERMJudge

SIZE = 336
# id -> (cx, cy, r, fill)
TRUE = {"c0": (80, 90, 40, "#d62728"), "c1": (230, 110, 50, "#1f77b4"), "c2": (160, 240, 45, "#2ca02c")}
# Three errors: c0 and c1 wrongly filled (style, 2 each), c2 missing (structure, 3): S = 7.
BROKEN = {"c0": (80, 90, 40, "#1f77b4"), "c1": (230, 110, 50, "#ff7f0e")}


def svg(circles: dict[str, tuple[int, int, int, str]]) -> str:
    body = "".join(
        f'<circle id="{cid}" cx="{cx}" cy="{cy}" r="{r}" fill="{fill}"/>' for cid, (cx, cy, r, fill) in circles.items()
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}">{body}</svg>'


def answer(circles: dict[str, tuple[int, int, int, str]]) -> str:
    return f"```svg\n{svg(circles)}\n```"


def parse_circles(text: str) -> dict[str, tuple[int, int, int, str]]:
    pattern = r'<circle id="(\w+)" cx="(\d+)" cy="(\d+)" r="(\d+)" fill="(#[0-9a-f]{6})"/>'
    return {m[0]: (int(m[1]), int(m[2]), int(m[3]), m[4]) for m in re.findall(pattern, text)}


def hex_colour(rgb: tuple[int, ...]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb[:3])


def text_of(message: dict) -> str:
    return "".join(p.get("text", "") for p in message["content"] if isinstance(p, dict))


def images_of(request: ChatRequest) -> list[Image.Image]:
    return [
        p["image"] for m in request.messages for p in m["content"] if isinstance(p, dict) and p.get("type") == "image"
    ]


class Engine:
    weights_version = 0

    def update_weights(self, update: WeightUpdate) -> None:
        pass

    def close(self) -> None:
        pass


class PixelOracleEngine(Engine):
    """The judge's engine: knows where the true circles are and compares the two images' pixels there."""

    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]:
        return [[Completion(text=self.critique(*images_of(r)[:2]))] for r in requests]

    @staticmethod
    def critique(reference: Image.Image, candidate: Image.Image) -> str:
        errors = []
        for cid, (cx, cy, r, fill) in TRUE.items():
            want = reference.convert("RGB").getpixel((cx * reference.width // SIZE, cy * reference.height // SIZE))
            got = candidate.convert("RGB").getpixel((cx * candidate.width // SIZE, cy * candidate.height // SIZE))
            if min(got) > 240:
                errors.append(
                    {"category": "structure_error", "severity": 3, "location": f"circle {cid}",
                     "description": f"circle {cid} (cx={cx}, cy={cy}, r={r}, fill={fill}) is missing"}
                )  # fmt: skip
            elif max(abs(a - b) for a, b in zip(want, got, strict=True)) > 40:
                errors.append(
                    {"category": "style_error", "severity": 2, "location": f"circle {cid}",
                     "description": f"circle {cid} is filled {hex_colour(got)} instead of {fill}"}
                )  # fmt: skip
        return json.dumps({"errors": errors})


class FixFirstPolicy(Engine):
    """Writes the broken draft, then fixes only the first point of each feedback (a render failure: rewrites)."""

    def __init__(self, first_draft: str | None = None) -> None:
        self.first_draft = first_draft or answer(BROKEN)
        self.requests: list[ChatRequest] = []

    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]:
        self.requests.extend(requests)
        return [[Completion(text=self.reply(r))] for r in requests]

    def reply(self, request: ChatRequest) -> str:
        if len(request.messages) == 1:
            return self.first_draft
        previous, feedback = text_of(request.messages[-2]), text_of(request.messages[-1])
        if "did not render" in feedback:
            return answer(BROKEN)
        circles = parse_circles(previous)
        first = next(line for line in feedback.splitlines() if line.startswith("- ["))
        cid = re.search(r"circle (c\d)", first)[1]  # type: ignore[index]
        if "is missing" in first:
            cx, cy, r, fill = re.search(r"cx=(\d+), cy=(\d+), r=(\d+), fill=(#[0-9a-f]{6})", first).groups()  # type: ignore[union-attr]
            circles[cid] = (int(cx), int(cy), int(r), fill)
        else:
            cx, cy, r, _ = circles[cid]
            circles[cid] = (cx, cy, r, re.search(r"instead of (#[0-9a-f]{6})", first)[1])  # type: ignore[index]
        return answer(circles)


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    with RenderPool(workers=1, timeout_s=30) as running:
        yield running


@pytest.fixture(scope="module")
def reference(pool: RenderPool) -> Image.Image:
    from src.reward.pair import load_reference

    result = pool.render([RenderJob(domain="svg", source=svg(TRUE))])[0]
    assert result.ok and result.png
    return load_reference(result.png)


def test_oracle_feedback_improves_a_broken_draft_round_by_round(pool: RenderPool, reference: Image.Image) -> None:
    policy = FixFirstPolicy()
    refiner = ReflectiveRefiner(policy, VisualERMJudge(PixelOracleEngine(), retries=0), pool.render, rounds=5)
    [outcome] = refiner.run([RefineTask("icon", "svg", reference)])
    severities = [v.severity_sum for v in outcome.versions]
    assert severities == [7.0, 4.0, 2.0, 0.0]  # one fix per round; the loop stops once the critique is empty
    assert outcome.rewards == sorted(outcome.rewards) and len(set(outcome.rewards)) == 4
    assert outcome.best is outcome.versions[-1] and parse_circles(outcome.best.answer) == TRUE
    # The policy saw its own previous answer and the critique, most severe point first.
    revision = policy.requests[1].messages
    assert [m["role"] for m in revision] == ["user", "assistant", "user"]
    assert "circle c2" in text_of(revision[-1]).split("\n- ")[1] and "severity 3" in text_of(revision[-1])


def test_without_feedback_rounds_nothing_improves_and_rounds_are_capped(
    pool: RenderPool, reference: Image.Image
) -> None:
    refiner = ReflectiveRefiner(FixFirstPolicy(), VisualERMJudge(PixelOracleEngine(), retries=0), pool.render, rounds=1)
    [outcome] = refiner.run([RefineTask("icon", "svg", reference)])
    assert [v.severity_sum for v in outcome.versions] == [7.0, 4.0]
    assert outcome.best.round == 1


class Saboteur(FixFirstPolicy):
    """Revisions delete a circle: the best version is the first draft, not the last."""

    def reply(self, request: ChatRequest) -> str:
        if len(request.messages) == 1:
            return answer(BROKEN)
        circles = parse_circles(text_of(request.messages[-2]))
        circles.pop(sorted(circles)[0], None)
        return answer(circles)


def test_the_best_version_is_kept_not_the_last(pool: RenderPool, reference: Image.Image) -> None:
    refiner = ReflectiveRefiner(Saboteur(), VisualERMJudge(PixelOracleEngine(), retries=0), pool.render, rounds=2)
    [outcome] = refiner.run([RefineTask("icon", "svg", reference)])
    assert outcome.best.round == 0 and outcome.rewards[0] > outcome.rewards[-1]


def test_a_render_failure_is_fed_back_and_repaired(pool: RenderPool, reference: Image.Image) -> None:
    policy = FixFirstPolicy(first_draft="```svg\n<svg xmlns='http://www.w3.org/2000/svg'><circle\n```")
    refiner = ReflectiveRefiner(policy, VisualERMJudge(PixelOracleEngine(), retries=0), pool.render, rounds=2)
    [outcome] = refiner.run([RefineTask("icon", "svg", reference)])
    assert not outcome.versions[0].rendered and outcome.versions[0].reward == 0.0
    assert "did not render" in text_of(policy.requests[1].messages[-1])
    assert outcome.versions[1].rendered and outcome.versions[2].severity_sum == 4.0


def test_feedback_text_for_each_outcome() -> None:
    failed = Version(0, "x", RenderResult.failure("syntax", "unclosed tag at line 1"), None)
    assert "did not render (syntax): unclosed tag" in feedback_text("svg", failed)
    unreadable = Version(0, "x", RenderResult(ok=True, png=b"png"), None, feedback_error="no JSON")
    assert "could not produce a readable comparison" in feedback_text("table", unreadable)
    assert "```html" in feedback_text("table", unreadable)


class Sampler(Engine):
    """Best-of-N stand-in: sample k has k errors (in a shuffled order), so exactly one sample is right."""

    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]:
        variants = [TRUE, {**TRUE, "c0": BROKEN["c0"]}, BROKEN, {"c1": BROKEN["c1"]}][:n]
        order = [2, 0, 3, 1][:n] if n == 4 else list(range(n))
        return [[Completion(text=answer(variants[k])) for k in order] for _ in requests]


def test_best_of_n_keeps_the_top_ranked_sample_with_any_reward(pool: RenderPool, reference: Image.Image) -> None:
    [outcome] = best_of_n([RefineTask("icon", "svg", reference)], Sampler(), SSIMReward(), pool.render, n=4)
    assert len(outcome.versions) == 4
    assert parse_circles(outcome.best.answer) == TRUE and outcome.best.reward == pytest.approx(1.0, abs=1e-4)
    judge = VisualERMJudge(PixelOracleEngine(), retries=0)
    [judged] = best_of_n([RefineTask("icon", "svg", reference)], Sampler(), judge, pool.render, n=4)
    assert parse_circles(judged.best.answer) == TRUE


def test_revision_messages_encode_with_the_real_chat_template(tiny_processor: object, reference: Image.Image) -> None:
    """The multi-turn revision conversation goes through Qwen3-VL's chat template (the HF engine's path)."""
    previous = Version(0, answer(BROKEN), RenderResult(ok=True, png=b"png"), None, feedback_error="x")
    messages = revision_messages(RefineTask("icon", "svg", reference), previous)
    text = tiny_processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)  # type: ignore[attr-defined]
    assert text.count("<|im_start|>assistant") == 2 and "could not produce a readable comparison" in text


def test_tiny_model_as_policy_and_judge_runs_a_revision_round(
    pool: RenderPool, reference: Image.Image, tiny_vlm: object, tiny_processor: object
) -> None:
    """Real engines end to end: the random tiny Qwen3-VL writes no code, so its draft fails to render, is never
    judged, and the failure is fed back through a multi-turn request that HFEngine encodes and answers."""
    from src.engines.hf_engine import HFEngine

    engine = HFEngine(tiny_vlm, tiny_processor)
    greedy = SamplingSettings(temperature=0.0, max_new_tokens=8)
    refiner = ReflectiveRefiner(engine, VisualERMJudge(engine, retries=0), pool.render, rounds=1, sampling=greedy)
    [outcome] = refiner.run([RefineTask("icon", "svg", reference)])
    assert [v.round for v in outcome.versions] == [0, 1]
    assert not outcome.versions[0].rendered and outcome.versions[0].render.error_kind == "no_code"
    assert outcome.best.reward == 0.0
