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

The profile is the whole protocol: what is asked (prompt, images, sampling) and, per domain, how the answer is read,
how often an unreadable one is asked again and how it becomes a reward (``AnswerProtocol``). With our built-in
profile that is our lenient parser and ``RewardConfig``; with the released judge's profile
(``tools/build_prompt_profile.py``) it is the released reward code's reader, attempts and formula, so the released
weights give the rewards they give in the authors' runs.

Why it behaves as it does:
- A candidate that did not render is never sent to the engine: its reward does not depend on any critique, and
  judging an error message would waste the most expensive call of the GRPO step.
- An unreadable answer is asked again, only for the pairs that failed, in one batch, up to the domain protocol's
  ``attempts`` (else ``retries`` + 1); after that the fallback applies (``RewardConfig`` or the released formula's
  failure severity). An engine ``Completion`` with ``error`` set (timeout, every server down) counts as unreadable
  under our protocol, so one dead request never crashes a training step; under a released protocol it ends that
  pair's judging at once with the released code's value for a failed call.
- Images travel as the engine needs them (``image_transport``): an HTTP engine gets them to encode in the domain's
  format (the released chart/SVG judge receives the JPEG bytes its own code sends), an in-process engine gets the
  pixels that encoding would decode to.
- Rewards under ``RewardConfig`` are computed per GRPO group (``RewardPair.group``), because the paper's
  normalization (Eq. 4) divides by the group's largest severity sum; the released formulas score each pair alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from src.data.schema import Critique
from src.engines.engine import ChatRequest, GenerationEngine, SamplingSettings
from src.reward.critic_profile import AnswerProtocol, CriticProfile, Transport, builtin_profile, load_profile
from src.reward.pair import RewardPair, check_pairs
from src.reward.parse import CritiqueParseError, parse_critique
from src.reward.reward import CandidateReward, RewardConfig, grouped_critique_rewards, released_reward


@dataclass(frozen=True)
class JudgedPair:
    """What the judge made of one pair.

    ``critique`` is the last answer read by our parser (a ``CritiqueParseError`` when it could not), or ``None`` when
    the candidate did not render; under a released protocol it is informative only, the reward comes from the
    released reader. ``parsed`` says whether the protocol's own reader read the last answer (``None``: not judged).
    ``judge_seconds`` is this pair's share of the engine calls it took part in (a batch's wall time split evenly
    over its requests), summed over attempts.
    """

    reward: float
    critique: Critique | CritiqueParseError | None
    breakdown: CandidateReward
    answer: str | None  # the critic's last raw text
    attempts: int
    judge_seconds: float
    render_seconds: float
    parsed: bool | None = None


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
        """Share of judged pairs whose last answer the protocol read (1.0 when nothing was judged): judge health."""
        judged = [p for p in self.pairs if p.parsed is not None]
        return sum(bool(p.parsed) for p in judged) / len(judged) if judged else 1.0


class VisualERMJudge:
    """A generative reward model behind any ``GenerationEngine``.

    Args:
        engine: generates the critiques (the same engine protocol as the policy's).
        profile: the critic's protocol (prompt, images, sampling, answer reading and scoring), or the path of a
            profile JSON (``load_profile``); default: our own critic's built-in profile.
        reward: how our critiques become rewards (paper's group-max or the public code's fixed S/50); domains whose
            profile protocol has a released formula are scored by that formula instead.
        retries: how many more times an unreadable answer is asked for, in domains whose profile protocol does not
            fix the number of attempts (the released profile does: 2 for charts and SVG, 1 for tables).
        batch_size: requests per ``engine.generate`` call; bounds the memory of an in-process engine.
        image_transport: ``encoded`` hands the engine the images to encode in each domain's format (HTTP engines),
            ``pixels`` the decoded pixels (in-process engines); ``auto`` picks ``encoded`` for ``OpenAIEngine``.
    """

    def __init__(
        self,
        engine: GenerationEngine,
        profile: CriticProfile | str | Path | None = None,
        reward: RewardConfig | None = None,
        retries: int = 2,
        batch_size: int = 32,
        image_transport: Literal["auto", "pixels", "encoded"] = "auto",
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries: must be >= 0, got {retries}")
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        if image_transport not in ("auto", "pixels", "encoded"):
            raise ValueError(f"image_transport: {image_transport!r} is not 'auto', 'pixels' or 'encoded'")
        self.engine = engine
        if isinstance(profile, str | Path):
            profile = load_profile(profile)
        self.profile = profile or builtin_profile()
        self.reward = reward or RewardConfig()
        self.retries = retries
        self.batch_size = batch_size
        self.transport: Transport = (
            ("encoded" if _sends_images_over_http(engine) else "pixels")
            if image_transport == "auto"
            else image_transport
        )

    def attempts_for(self, domain: str) -> int:
        """How many times a pair of ``domain`` is asked at most."""
        return self.profile.domain(domain).protocol.attempts or self.retries + 1

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        return self.judge(pairs).rewards

    def judge(self, pairs: Sequence[RewardPair], reward: RewardConfig | None = None) -> JudgeResult:
        """Critiques and rewards of ``pairs``, in order; ``reward`` overrides the judge's ``RewardConfig`` once."""
        start = time.perf_counter()
        check_pairs(pairs)
        n = len(pairs)
        critiques: list[Critique | CritiqueParseError | None] = [None] * n
        severities: list[float | None] = [None] * n  # released protocols: S read by the released reader
        engine_errors: list[str | None] = [None] * n  # released protocols: the judge call failed
        answers: list[str | None] = [None] * n
        attempts = [0] * n
        judge_seconds = [0.0] * n
        config = reward or self.reward
        # Candidates are decoded per chunk, not all at once: a GRPO step judges ~2,000 renders (~2 MB each decoded).
        pending = [i for i, p in enumerate(pairs) if p.rendered]
        for attempt in range(max((self.attempts_for(pairs[i].domain) for i in pending), default=0)):
            if not pending:
                break
            failed = []
            by_domain: dict[str, list[int]] = {}  # a profile may sample each domain differently
            for i in pending:
                if attempt < self.attempts_for(pairs[i].domain):
                    by_domain.setdefault(pairs[i].domain, []).append(i)
            for domain, chunk in (
                (d, c) for d, members in by_domain.items() for c in _chunks(members, self.batch_size)
            ):
                protocol = self.profile.domain(domain).protocol
                requests = [
                    self.profile.build_request(
                        domain, pairs[i].reference, pairs[i].candidate_image(), transport=self.transport
                    )
                    for i in chunk
                ]
                texts, seconds = self._generate(requests, self.profile.sampling_for(domain), attempt)
                for i, text in zip(chunk, texts, strict=True):
                    attempts[i] += 1
                    judge_seconds[i] += seconds / len(chunk)
                    answers[i] = text if isinstance(text, str) else None
                    critiques[i] = _parse(text, domain)
                    if not protocol.released:
                        if isinstance(critiques[i], CritiqueParseError):
                            failed.append(i)
                    elif isinstance(text, CritiqueParseError):  # released code gives up on a failed call at once
                        engine_errors[i] = text.reason
                    else:
                        severities[i] = _released_severity(protocol, text, critiques[i], config)
                        if severities[i] is None:
                            failed.append(i)
            pending = failed

        rewards, breakdowns = self._rewards(pairs, critiques, severities, engine_errors, config)
        judged = [
            JudgedPair(
                reward=rewards[i],
                critique=critiques[i],
                breakdown=breakdowns[i],
                answer=answers[i],
                attempts=attempts[i],
                judge_seconds=judge_seconds[i],
                render_seconds=pairs[i].candidate.seconds,
                parsed=None
                if not attempts[i]
                else severities[i] is not None
                if self.profile.domain(pairs[i].domain).protocol.released
                else isinstance(critiques[i], Critique),
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
        self,
        pairs: Sequence[RewardPair],
        critiques: list[Critique | CritiqueParseError | None],
        severities: list[float | None],
        engine_errors: list[str | None],
        config: RewardConfig,
    ) -> tuple[list[float], list[CandidateReward]]:
        rewards: list[float] = [0.0] * len(pairs)
        breakdowns: list[CandidateReward | None] = [None] * len(pairs)
        ours: list[int] = []
        for i, pair in enumerate(pairs):
            scoring = self.profile.domain(pair.domain).protocol.scoring
            if scoring is not None:  # the released formulas score each pair alone
                breakdowns[i] = released_reward(scoring, pair.candidate, severities[i], engine_errors[i])
                rewards[i] = breakdowns[i].reward  # type: ignore[union-attr]
            else:
                ours.append(i)
        group_rewards, group_breakdowns = grouped_critique_rewards(
            [pairs[i] for i in ours], [critiques[i] for i in ours], config
        )
        for i, r, b in zip(ours, group_rewards, group_breakdowns, strict=True):
            rewards[i], breakdowns[i] = r, b
        return rewards, [b for b in breakdowns if b is not None]


def _released_severity(
    protocol: AnswerProtocol,
    text: str,
    critique: Critique | CritiqueParseError | None,
    config: RewardConfig,
) -> float | None:
    """S for a released formula: the released reader's, or ours when the protocol keeps our parser."""
    if protocol.parser != "ours":
        return protocol.severity(text)
    if not isinstance(critique, Critique):
        return None
    return float(critique.severity_sum + (critique.skipped_severity if config.count_skipped_severity else 0))


def _sends_images_over_http(engine: GenerationEngine) -> bool:
    """Whether ``engine`` encodes request images itself (``OpenAIEngine``); imported here so the judge does not
    need the ``openai`` package unless that engine is in use."""
    try:
        from src.engines.openai_engine import OpenAIEngine
    except ImportError:  # without the openai package no engine is an OpenAIEngine
        return False
    return isinstance(engine, OpenAIEngine)


def _parse(text: str | CritiqueParseError, domain: str) -> Critique | CritiqueParseError:
    if isinstance(text, CritiqueParseError):
        return text
    try:
        return parse_critique(text, domain)
    except CritiqueParseError as exc:
        return exc


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
