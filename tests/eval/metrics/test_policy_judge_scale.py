"""A Visual-ERM judge in policy evaluation scores each sample on a fixed severity scale, whatever its training
normalization: alone in a group, the paper's group-max would give only 2.0 (no error) or ~1.0 (any error)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import pytest
from PIL import Image

from src.engines.engine import Completion
from src.eval.metrics.policy import PolicyAnswer, score_answers
from src.render.job import RenderJob, RenderResult
from src.reward.judge import VisualERMJudge
from src.reward.reward import RewardConfig


def png(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, format="PNG")
    return buffer.getvalue()


class PaintingRenderer:
    """Every job 'renders' to a small image, without running the code (the judge is what is tested)."""

    def render(self, jobs: Sequence[RenderJob]) -> list[RenderResult]:
        return [RenderResult(ok=True, png=png("gray")) for _ in jobs]


class SeverityCritic:
    """Answers each request in turn with a critique whose severities sum to the next value of ``sums``."""

    weights_version = 0

    def __init__(self, sums: list[int]) -> None:
        self.sums = list(sums)

    def generate(self, requests, n=1, sampling=None):
        out = []
        for _ in requests:
            s = self.sums.pop(0)
            errors = [{"category": "data_error", "severity": 1, "location": "bar", "description": "d"}] * s
            out.append([Completion(json.dumps({"errors": errors}))])
        return out

    def update_weights(self, update):  # pragma: no cover - not used
        pass

    def close(self) -> None:  # pragma: no cover - not used
        pass


def test_group_max_judge_is_scored_on_the_fixed_scale() -> None:
    reference = Image.new("RGB", (64, 48), "white")
    answers = [PolicyAnswer(f"a{i}", "chart", reference, "code", None) for i in range(3)]
    judge = VisualERMJudge(SeverityCritic([0, 5, 20]), reward=RewardConfig(normalization="group_max", fixed_scale=50))
    scores = score_answers(answers, PaintingRenderer(), judge=judge)
    # 1 + clip(1 - S/50): 2.0, 1.9, 1.6 (group-max alone would give 2.0, ~1.0, ~1.0)
    assert [s.judge_reward for s in scores] == pytest.approx([2.0, 1.9, 1.6])
    assert judge.reward.normalization == "group_max"  # the judge's own setting is left as it was
