"""Running judges over the bench: the real VisualERMJudge behind a scripted engine, resumability, scalar rewards."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from src.engines.engine import ChatRequest, Completion, SamplingSettings, WeightUpdate
from src.eval.bench_run import load_reward_pair, run_critique_judge, run_scalar_reward
from src.eval.judge_bench import BenchError, BenchPair, load_bench, predictions_for, score_critiques
from src.reward.baselines.pixel import SSIMReward
from src.reward.judge import JudgeResult, VisualERMJudge
from src.reward.pair import RewardPair


class ScriptedEngine:
    """Answers requests in order from a list; counts the requests it served."""

    weights_version = 0

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.served = 0

    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]:
        self.served += len(requests)
        return [[Completion(text=self.replies.pop(0))] for _ in requests]

    def update_weights(self, update: WeightUpdate) -> None:
        pass

    def close(self) -> None:
        pass


def true_answer(pair: BenchPair) -> str:
    return json.dumps({"errors": [dict(e) for e in pair.reference_errors]})


@pytest.fixture
def bench(pair_shards: Path) -> list[BenchPair]:
    pairs = load_bench(pair_shards / "bench.jsonl")
    assert [p.domain for p in pairs] == ["chart", "table", "svg"]
    return pairs


def test_visual_erm_judge_answers_become_the_public_evaluators_input(bench: list[BenchPair], tmp_path: Path) -> None:
    replies = [true_answer(bench[0]), "Sorry, I cannot tell.", true_answer(bench[2])]
    judge = VisualERMJudge(ScriptedEngine(replies), retries=0)
    rows, stats = run_critique_judge(bench, judge, tmp_path, batch_size=3, progress=False)
    assert stats.judged == 3 and stats.resumed == 0 and stats.judge_seconds > 0
    on_disk = json.loads((tmp_path / "predictions.json").read_text())
    assert on_disk == rows
    # Each row is the bench row plus the judge's answer, as the public judge script writes it.
    assert rows[1]["pred_json"] is None and rows[1]["error_parse_failed_reason"]
    assert rows[1]["pred_text"] == "Sorry, I cannot tell."
    assert rows[0]["human_errors"] == bench[0].row["human_errors"] and rows[0]["id"] == bench[0].key
    predictions = predictions_for(bench, rows)
    scores = {s.key: s for s in score_critiques(bench, predictions).pair_scores}
    assert scores[bench[0].key].counts.fp == 0 and scores[bench[0].key].counts.fn == 0
    assert scores[bench[1].key].counts.fn == len(bench[1].reference_errors)
    assert not scores[bench[1].key].parsed


class DiesAfter:
    """A judge that serves ``batches`` batches, then dies like a killed process."""

    def __init__(self, inner: VisualERMJudge, batches: int) -> None:
        self.inner, self.left = inner, batches

    def judge(self, pairs: Sequence[RewardPair]) -> JudgeResult:
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.inner.judge(pairs)


def test_a_killed_run_resumes_without_rejudging_finished_pairs(bench: list[BenchPair], tmp_path: Path) -> None:
    answers = [true_answer(p) for p in bench]
    first = ScriptedEngine(answers[:1])
    with pytest.raises(KeyboardInterrupt):
        run_critique_judge(bench, DiesAfter(VisualERMJudge(first), 1), tmp_path, batch_size=1, progress=False)
    assert not (tmp_path / "predictions.json").exists()
    assert len((tmp_path / "predictions.partial.jsonl").read_text().splitlines()) == 1
    # A torn last line (a kill mid-write) is cut off, not read as a result.
    with open(tmp_path / "predictions.partial.jsonl", "a") as f:
        f.write('{"id": "torn')
    second = ScriptedEngine(answers[1:])
    with pytest.warns(UserWarning, match="torn"):
        rows, stats = run_critique_judge(bench, VisualERMJudge(second), tmp_path, batch_size=1, progress=False)
    assert (stats.resumed, stats.judged, second.served) == (1, 2, 2)
    assert [r["id"] for r in rows] == [p.key for p in bench] and all(r["pred_json"] for r in rows)


def test_resuming_another_judges_run_is_refused(bench: list[BenchPair], tmp_path: Path) -> None:
    run_critique_judge(
        bench, VisualERMJudge(ScriptedEngine(['{"errors": []}'] * 3)), tmp_path, 3, "judge-a", progress=False
    )
    with pytest.raises(BenchError, match="another judge"):
        run_critique_judge(bench, VisualERMJudge(ScriptedEngine([])), tmp_path, 3, "judge-b", progress=False)


def test_missing_or_broken_images_are_reported_before_judging(bench: list[BenchPair], tmp_path: Path) -> None:
    gone = BenchPair("gone", "svg", tmp_path / "nope.png", tmp_path / "nope2.png", (), {})
    engine = ScriptedEngine([])
    with pytest.raises(BenchError, match="do not exist"):
        run_critique_judge([gone], VisualERMJudge(engine), tmp_path / "a", progress=False)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(BenchError, match="broken"):
        load_reward_pair(BenchPair("b", "svg", bench[0].reference_image, broken, (), {}))
    assert engine.served == 0


def test_scalar_reward_run_writes_rewards(bench: list[BenchPair], pair_shards: Path, tmp_path: Path) -> None:
    identical = BenchPair("same", "chart", bench[0].reference_image, bench[0].reference_image, (), {"id": "same"})
    rows, stats = run_scalar_reward([*bench, identical], SSIMReward(max_side=64), tmp_path, progress=False)
    rewards = {r["id"]: r["reward"] for r in rows}
    assert rewards["same"] == pytest.approx(1.0, abs=1e-4)
    assert all(0.0 <= v <= 1.0 for v in rewards.values()) and stats.judged == 4
    assert json.loads((tmp_path / "rewards.json").read_text()) == rows


def test_relative_bench_paths_resolve_from_the_bench_folder(pair_shards: Path, tmp_path: Path) -> None:
    copy = tmp_path / "shards"
    shutil.copytree(pair_shards, copy)
    pairs = load_bench(copy / "bench.jsonl")
    assert all(p.reference_image.is_relative_to(copy) and p.reference_image.is_file() for p in pairs)
