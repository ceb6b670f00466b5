"""Visual-ERM as a reward: (reference, rendered candidate) pairs → critic requests → engine → critiques → rewards.

Used by the GRPO rollout callback, the TRL adapter, the judge benchmark and the reward-hacking probes; the engine
(``HFEngine`` in-process, ``OpenAIEngine`` against our server or ``vllm serve``) and the critic prompt profile are
picked in YAML::

    reward:
      class_path: src.reward.judge.VisualERMJudge
      init_args:
        engine: {class_path: src.engines.openai_engine.OpenAIEngine, init_args: {...}}
        reward: {normalization: fixed, fixed_scale: 50}
        retries: 2

Why it behaves as it does:
- A candidate that did not render is never sent to the engine: its reward (0) does not depend on any critique, and
  judging an error message would waste the most expensive call of the GRPO step.
- An unparseable critique is asked again (``retries`` times, as the public reward code does twice), only for the
  pairs that failed, in one batch; after that the reward layer's fallback applies (``RewardConfig``). An engine
  ``Completion`` with ``error`` set (timeout, every server down) counts as unparseable, so one dead request never
  crashes a training step.
- Rewards are computed per GRPO group (``RewardPair.group``), because the paper's normalization (Eq. 4) divides by
  the group's largest severity sum.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from src.data.schema import Critique
from src.engines.engine import ChatRequest, GenerationEngine, SamplingSettings
from src.reward.critic_profile import CriticProfile, builtin_profile, load_profile
from src.reward.pair import RewardPair, check_pairs
from src.reward.parse import CritiqueParseError, parse_critique
from src.reward.reward import CandidateReward, RewardConfig, critique_to_reward


@dataclass(frozen=True)
class JudgedPair:
    """What the judge made of one pair.

    ``critique`` is the parsed critique, a ``CritiqueParseError`` when every attempt failed, or ``None`` when the
    candidate did not render. ``judge_seconds`` is this pair's share of the engine calls it took part in (a batch's
    wall time split evenly over its requests), summed over attempts.
    """

    reward: float
    critique: Critique | CritiqueParseError | None
    breakdown: CandidateReward
    answer: str | None  # the critic's last raw text
    attempts: int
    judge_seconds: float
    render_seconds: float


@dataclass(frozen=True)
class JudgeResult:
    """Rewards in pair order, with the critiques and timing behind them."""

    pairs: list[JudgedPair]
    seconds: float  # wall time of the whole call

    @property
    def rewards(self) -> list[float]:
        return [p.reward for p in self.pairs]

    @property
    def critiques(self) -> list[Critique | CritiqueParseError | None]:
        return [p.critique for p in self.pairs]

    @property
    def parse_rate(self) -> float:
        """Share of judged pairs whose critique parsed (1.0 when nothing was judged): the judge's health metric."""
        judged = [p for p in self.pairs if p.critique is not None]
        return sum(isinstance(p.critique, Critique) for p in judged) / len(judged) if judged else 1.0


class VisualERMJudge:
    """A generative reward model behind any ``GenerationEngine``.

    Args:
        engine: generates the critiques (the same engine protocol as the policy's).
        profile: critic prompt, image encoding and sampling, or the path of a profile JSON (``load_profile``);
            default: our own critic's built-in profile.
        reward: how critiques become rewards (paper's group-max or the public code's fixed S/50).
        retries: how many more times an unparseable critique is asked for before the fallback (public code: 2).
        batch_size: requests per ``engine.generate`` call; bounds the memory of an in-process engine.
    """

    def __init__(
        self,
        engine: GenerationEngine,
        profile: CriticProfile | str | Path | None = None,
        reward: RewardConfig | None = None,
        retries: int = 2,
        batch_size: int = 32,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries: must be >= 0, got {retries}")
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        self.engine = engine
        if isinstance(profile, str | Path):
            profile = load_profile(profile)
        self.profile = profile or builtin_profile()
        self.reward = reward or RewardConfig()
        self.retries = retries
        self.batch_size = batch_size

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        return self.judge(pairs).rewards

    def judge(self, pairs: Sequence[RewardPair]) -> JudgeResult:
        """Critiques and rewards of ``pairs``, in order."""
        start = time.perf_counter()
        check_pairs(pairs)
        n = len(pairs)
        critiques: list[Critique | CritiqueParseError | None] = [None] * n
        answers: list[str | None] = [None] * n
        attempts = [0] * n
        judge_seconds = [0.0] * n
        # Candidates are decoded per chunk, not all at once: a GRPO step judges ~2,000 renders (~2 MB each decoded).
        pending = [i for i, p in enumerate(pairs) if p.rendered]
        for attempt in range(self.retries + 1):
            if not pending:
                break
            failed = []
            by_domain: dict[str, list[int]] = {}  # a profile may sample each domain differently
            for i in pending:
                by_domain.setdefault(pairs[i].domain, []).append(i)
            for domain, chunk in (
                (d, c) for d, members in by_domain.items() for c in _chunks(members, self.batch_size)
            ):
                requests = [
                    self.profile.build_request(domain, pairs[i].reference, pairs[i].candidate_image()) for i in chunk
                ]
                texts, seconds = self._generate(requests, self.profile.sampling_for(domain), attempt)
                for i, text in zip(chunk, texts, strict=True):
                    attempts[i] += 1
                    judge_seconds[i] += seconds / len(chunk)
                    answers[i] = text if isinstance(text, str) else None
                    critiques[i] = _parse(text, pairs[i].domain)
                    if isinstance(critiques[i], CritiqueParseError):
                        failed.append(i)
            pending = failed

        rewards, breakdowns = self._rewards(pairs, critiques)
        judged = [
            JudgedPair(
                reward=rewards[i],
                critique=critiques[i],
                breakdown=breakdowns[i],
                answer=answers[i],
                attempts=attempts[i],
                judge_seconds=judge_seconds[i],
                render_seconds=pairs[i].candidate.seconds,
            )
            for i in range(n)
        ]
        return JudgeResult(pairs=judged, seconds=time.perf_counter() - start)

    def _generate(
        self, requests: list[ChatRequest], sampling: SamplingSettings, attempt: int
    ) -> tuple[list[str | CritiqueParseError], float]:
        """One engine call; a completion the engine gave up on comes back as a parse failure with its reason."""
        if attempt and sampling.seed is not None:  # a re-ask with the same seed would repeat the same answer
            sampling = replace(sampling, seed=sampling.seed + attempt)
        start = time.perf_counter()
        outputs = self.engine.generate(requests, n=1, sampling=sampling)
        seconds = time.perf_counter() - start
        if len(outputs) != len(requests) or any(len(o) < 1 for o in outputs):
            raise RuntimeError(
                f"engine {type(self.engine).__name__} returned {len(outputs)} answers for {len(requests)} requests"
            )
        texts: list[str | CritiqueParseError] = []
        for completion, *_ in outputs:
            if completion.error is not None:
                texts.append(CritiqueParseError(f"engine error: {completion.error}", completion.text or ""))
            else:
                texts.append(completion.text)
        return texts, seconds

    def _rewards(
        self, pairs: Sequence[RewardPair], critiques: list[Critique | CritiqueParseError | None]
    ) -> tuple[list[float], list[CandidateReward]]:
        groups: dict[Hashable, list[int]] = {}
        for i, pair in enumerate(pairs):
            groups.setdefault(("pair", i) if pair.group is None else ("group", pair.group), []).append(i)
        rewards: list[float] = [0.0] * len(pairs)
        breakdowns: list[CandidateReward | None] = [None] * len(pairs)
        for members in groups.values():
            domains = {pairs[i].domain for i in members}
            if len(domains) > 1:
                raise ValueError(f"group {pairs[members[0]].group!r} mixes domains {sorted(domains)}")
            group_rewards, group_breakdown = critique_to_reward(
                [pairs[i].candidate for i in members], [critiques[i] for i in members], domains.pop(), self.reward
            )
            for i, r, b in zip(members, group_rewards, group_breakdown, strict=True):
                rewards[i], breakdowns[i] = r, b
        return rewards, [b for b in breakdowns if b is not None]


def _parse(text: str | CritiqueParseError, domain: str) -> Critique | CritiqueParseError:
    if isinstance(text, CritiqueParseError):
        return text
    try:
        return parse_critique(text, domain)
    except CritiqueParseError as exc:
        return exc


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
