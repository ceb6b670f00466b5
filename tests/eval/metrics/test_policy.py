"""Scoring a policy's answers end to end through the real render pool: per-domain metrics, execution rate,
missing references counted (not scored 0), the judge's critique kept, and the files the report reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.data.schema import Critique, Discrepancy
from src.engines.engine import Completion
from src.eval.metrics.policy import PolicyAnswer, aggregate, decode_png, score_answers, summary_markdown, write_results
from src.render import RenderJob, RenderPool
from src.reward.baselines import RenderSuccessReward
from src.reward.judge import VisualERMJudge
from src.reward.reward import RewardConfig

CHART = """
import matplotlib.pyplot as plt
plt.figure(figsize=(4, 3))
plt.bar(["a", "b", "c"], [3, 1, 2], color="#4C72B0")
plt.title("Sales")
"""
TABLE = "<table><tr><th>k</th><th>v</th></tr><tr><td>x</td><td>1</td></tr></table>"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="20" fill="red"/></svg>'
CRITIQUE = Critique("chart", (Discrepancy("data", 2, "bar b", "height differs"),))


class ScriptedCritic:
    """A judge engine that always answers with one fixed critique (the engine protocol, no model)."""

    weights_version = 0

    def generate(self, requests, n=1, sampling=None):
        return [[Completion(json.dumps(CRITIQUE.to_official()))] for _ in requests]

    def update_weights(self, update):  # pragma: no cover - not used
        pass

    def close(self) -> None:  # pragma: no cover - not used
        pass


@pytest.fixture(scope="module")
def references(metrics_pool: RenderPool):
    results = metrics_pool.render([RenderJob("chart", CHART), RenderJob("table", TABLE), RenderJob("svg", SVG)])
    assert all(r.ok for r in results), [r.message for r in results]
    return {domain: decode_png(r.png) for domain, r in zip(("chart", "table", "svg"), results, strict=True)}


def answers_for(references) -> list[PolicyAnswer]:
    chart, table, svg = references["chart"], references["table"], references["svg"]
    return [
        PolicyAnswer("c-exact", "chart", chart, f"```python\n{CHART}\n```", CHART),
        PolicyAnswer("c-broken", "chart", chart, "```python\nimport matplotlib.pyplot as plt\nplt.bar(\n```", CHART),
        PolicyAnswer("c-noref", "chart", chart, CHART, None),
        PolicyAnswer("t-exact", "table", table, TABLE, TABLE),
        PolicyAnswer("t-none", "table", table, "Sorry, no table.", TABLE),
        PolicyAnswer("s-exact", "svg", svg, SVG, None),
        PolicyAnswer("s-other", "svg", svg, SVG.replace('fill="red"', 'fill="blue"'), None),
    ]


def test_scores_and_aggregate_by_domain(metrics_pool: RenderPool, references) -> None:
    answers = answers_for(references)
    scores = score_answers(answers, metrics_pool, judge=RenderSuccessReward())
    by_id = {s.id: s for s in scores}
    assert by_id["c-exact"].metrics["low_level"] == 1.0
    assert by_id["c-broken"].executed is False and by_id["c-broken"].error_kind == "syntax"
    assert by_id["c-broken"].metrics["low_level"] == 0.0
    assert by_id["c-noref"].executed and "low_level" not in by_id["c-noref"].metrics
    assert by_id["t-exact"].metrics == {"teds": 1.0, "teds_s": 1.0, "edit_distance": 0.0}
    assert by_id["t-none"].executed is False and by_id["t-none"].metrics["teds"] == 0.0
    assert by_id["s-exact"].metrics["ssim"] == pytest.approx(1.0)
    assert by_id["s-other"].metrics["ssim"] < 1.0 and by_id["s-other"].metrics["mse"] > 0
    assert [s.judge_reward for s in scores] == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]

    summary = aggregate(scores)
    assert summary["chart"]["execution_rate"] == pytest.approx(2 / 3)
    assert summary["chart"]["low_level"] == pytest.approx(0.5)  # (1 + 0) / 2: the sample without code is left out
    assert summary["chart"]["missing"]["low_level"] == 1
    assert summary["table"]["teds"] == pytest.approx(0.5) and summary["table"]["edit_distance"] == pytest.approx(0.5)
    assert summary["overall"]["samples"] == 7 and summary["overall"]["execution_rate"] == pytest.approx(5 / 7)
    assert summary["overall"]["judge_reward"] == pytest.approx(5 / 7)
    assert "embedding_cosine" not in summary["svg"]
    markdown = summary_markdown(summary)
    assert "| low_level | 50.0 | higher |" in markdown and "| edit_distance | 50.0 | lower |" in markdown


def test_critiques_are_kept_and_results_written(metrics_pool: RenderPool, references, tmp_path: Path) -> None:
    answers = [a for a in answers_for(references) if a.domain == "chart"]
    judge = VisualERMJudge(ScriptedCritic(), reward=RewardConfig(normalization="fixed"))
    scores = score_answers(answers, metrics_pool, judge=judge)
    exact, broken, _ = scores
    assert exact.critique == [{"category": "data", "severity": 2, "location": "bar b", "description": "height differs"}]
    assert broken.critique is None and broken.judge_reward == 0.0
    assert 0.0 < exact.judge_reward < 2.0

    summary = write_results(tmp_path, answers, scores, {"policy": "scripted"})
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["c-exact", "c-broken", "c-noref"]
    assert (tmp_path / rows[0]["candidate_image"]).is_file() and rows[1]["candidate_image"] is None
    assert all((tmp_path / r["reference_image"]).is_file() for r in rows)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["summary"] == json.loads(json.dumps(summary)) and written["config"] == {"policy": "scripted"}
    assert (tmp_path / "summary.md").read_text().startswith("# Policy evaluation")
