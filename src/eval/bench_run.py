"""Run a judge over benchmark pairs, resumably: every finished pair is on disk, and a restarted run skips it.

Two kinds of judge, both the reward layer's own objects so the benchmark scores exactly what RL would use:
- a critique judge: anything with ``judge(pairs) -> JudgeResult`` (``src.reward.judge.VisualERMJudge`` behind any
  engine); its critiques become the ``pred_json`` of the public evaluator's input file, its raw answers ``pred_text``;
- a scalar reward: any ``RewardFunction`` (``pairs -> list[float]``: SSIM, pixel MSE, embedding cosine, …).

Resumability: each batch's rows are appended (one ``write`` + ``fsync`` per row) to ``<stem>.partial.jsonl`` before
the next batch starts, so a kill loses at most the batch in flight; a torn last line is cut on restart. The file is
tied to the judge by a fingerprint (``<stem>.run.json``): resuming with another judge into the same folder is refused
rather than mixing two judges' answers. When every pair is done the full file (``predictions.json`` or
``rewards.json``) is written atomically in bench order.

Timing is split into reading/decoding images (``io_seconds``) and the judge call (``judge_seconds``), the two costs
the speed benchmark compares.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tqdm.auto import tqdm

from src.data.schema import Critique
from src.data.shards import append_line, iter_jsonl, repair_torn_tail
from src.eval.judge_bench import BenchError, BenchPair
from src.render.job import RenderResult
from src.reward.judge import JudgeResult
from src.reward.pair import PairError, RewardFunction, RewardPair, load_reference
from src.reward.parse import CritiqueParseError


@runtime_checkable
class CritiqueJudge(Protocol):
    """A judge that writes critiques (``VisualERMJudge``)."""

    def judge(self, pairs: Sequence[RewardPair]) -> JudgeResult: ...


@dataclass
class RunStats:
    """What one run did: pairs judged now and found done before, and where the time went."""

    judged: int = 0
    resumed: int = 0
    io_seconds: float = 0.0
    judge_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def pairs_per_second(self) -> float:
        return self.judged / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "judged": self.judged,
            "resumed": self.resumed,
            "io_seconds": round(self.io_seconds, 3),
            "judge_seconds": round(self.judge_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "pairs_per_second": round(self.pairs_per_second, 4),
        }


def load_reward_pair(pair: BenchPair) -> RewardPair:
    """A bench pair's images as the reward layer's ``RewardPair`` (the candidate as a successful render)."""
    try:
        reference = load_reference(pair.reference_image)
        png = pair.candidate_image.read_bytes()
        reward_pair = RewardPair(reference, RenderResult(ok=True, png=png), pair.domain)
        reward_pair.candidate_image()  # decode once here, so a broken file fails the load, not the judge's batch
    except (PairError, OSError) as exc:
        raise BenchError(f"pair {pair.key} ({pair.reference_image}, {pair.candidate_image}): {exc}") from None
    return reward_pair


def run_critique_judge(
    pairs: Sequence[BenchPair],
    judge: CritiqueJudge,
    out_dir: str | Path,
    batch_size: int = 8,
    fingerprint: str = "",
    progress: bool = True,
) -> tuple[list[dict[str, Any]], RunStats]:
    """Judge every pair not yet on disk; write and return the public evaluator's input rows (with ``pred_json``)."""

    def score(batch: list[RewardPair]) -> list[dict[str, Any]]:
        result = judge.judge(batch)
        if len(result.pairs) != len(batch):
            raise BenchError(f"judge returned {len(result.pairs)} verdicts for {len(batch)} pairs")
        rows = []
        for verdict in result.pairs:
            critique = verdict.critique
            row: dict[str, Any] = {"pred_text": verdict.answer, "attempts": verdict.attempts}
            if isinstance(critique, Critique):
                row.update(pred_json=critique.to_official(), error_parse_failed_reason=None)
            else:
                reason = critique.reason if isinstance(critique, CritiqueParseError) else "no critique"
                row.update(pred_json=None, error_parse_failed_reason=reason)
            rows.append(row)
        return rows

    return _run(pairs, Path(out_dir), "predictions", score, batch_size, fingerprint, progress)


def run_scalar_reward(
    pairs: Sequence[BenchPair],
    reward: RewardFunction,
    out_dir: str | Path,
    batch_size: int = 8,
    fingerprint: str = "",
    progress: bool = True,
) -> tuple[list[dict[str, Any]], RunStats]:
    """Score every pair not yet on disk with a scalar reward; write and return rows with ``reward``."""

    def score(batch: list[RewardPair]) -> list[dict[str, Any]]:
        values = reward(batch)
        if len(values) != len(batch):
            raise BenchError(f"reward returned {len(values)} values for {len(batch)} pairs")
        for value in values:
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise BenchError(f"reward returned {value!r}; rewards must be finite numbers")
        return [{"reward": float(v)} for v in values]

    return _run(pairs, Path(out_dir), "rewards", score, batch_size, fingerprint, progress)


def _run(
    pairs: Sequence[BenchPair],
    out_dir: Path,
    stem: str,
    score: Callable[[list[RewardPair]], list[dict[str, Any]]],
    batch_size: int,
    fingerprint: str,
    progress: bool,
) -> tuple[list[dict[str, Any]], RunStats]:
    if batch_size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f"{stem}.partial.jsonl"
    _claim(out_dir / f"{stem}.run.json", fingerprint)
    repair_torn_tail(partial)
    keys = {p.key for p in pairs}
    done = {str(row["id"]): row for _, row in iter_jsonl(partial, on_corrupt="skip") if str(row.get("id")) in keys}
    pending = [p for p in pairs if p.key not in done]
    missing = [str(path) for p in pending for path in (p.reference_image, p.candidate_image) if not path.is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (" …" if len(missing) > 3 else "")
        raise BenchError(f"{len(missing)} bench images do not exist: {shown}")

    stats = RunStats(resumed=len(pairs) - len(pending))
    start = time.perf_counter()
    with tqdm(total=len(pairs), initial=stats.resumed, desc=f"judge bench ({stem})", disable=not progress) as bar:
        for first in range(0, len(pending), batch_size):
            batch = pending[first : first + batch_size]
            t0 = time.perf_counter()
            reward_pairs = [load_reward_pair(p) for p in batch]
            t1 = time.perf_counter()
            rows = score(reward_pairs)
            t2 = time.perf_counter()
            stats.io_seconds += t1 - t0
            stats.judge_seconds += t2 - t1
            for pair, row in zip(batch, rows, strict=True):
                row = {"id": pair.key, **row}
                append_line(partial, row)
                done[pair.key] = row
            stats.judged += len(batch)
            bar.update(len(batch))
    stats.wall_seconds = time.perf_counter() - start

    full = [{**pair.row, **done[pair.key]} for pair in pairs]
    _write_json_atomic(out_dir / f"{stem}.json", full)
    return full, stats


def _claim(run_file: Path, fingerprint: str) -> None:
    """Tie the folder's partial results to one judge; refuse to resume another judge's run into it."""
    if run_file.exists():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8")).get("fingerprint", "")
        except (json.JSONDecodeError, AttributeError):
            previous = None
        if previous != fingerprint:
            raise BenchError(
                f"{run_file.parent} holds results of another judge (see {run_file.name}); "
                "use a new output folder or delete that one to start over"
            )
        return
    _write_json_atomic(run_file, {"fingerprint": fingerprint})


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)
