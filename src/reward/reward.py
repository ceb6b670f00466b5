"""Critique → scalar reward for a GRPO group of candidates (one reference image, n rendered rollouts).

Two schemes, chosen by ``RewardConfig.normalization``:

- ``group_max`` — the paper (Eq. 3–5): S_i = Σ severities of candidate i; S̃_i = S_i / (max_j S_j + ε) over the
  group's rendered candidates; r_verm = clip(1 − S̃_i, 0, 1); r = r_render + r_verm, with r_render = ``render_bonus``
  when the code rendered and r = 0 when it did not. The best candidate of a group gets ~2, the worst rendered one ~1.
- ``fixed`` — the public reward code (``omnirender_rm_v3.py``): r_verm = clip(1 − S / ``fixed_scale``, 0, 1) with
  fixed_scale = 50 ("empirical, from RM statistics"), r = 1 + r_verm ∈ [1, 2]; 0 when no code was found, the render
  failed, or the image is blank (the render pool reports all three as failed renders).

A critique the judge got wrong (``CritiqueParseError``) counts as ``unparseable_severity`` (public code: 25, "RM's
failure, so use avg score instead of min score") — or, with ``None``, as r_verm = 0 and outside the group max, so
one garbled critique cannot stretch the group's scale.

The released judge's own reward code scores each candidate alone, with one formula per domain: charts and SVG get
``render_reward + judge_weight * clip(1 - S / max_severity, 0, 1)`` (S = ``failure_severity`` when no attempt gave a
readable answer; ``min_reward`` without a non-white render), tables get ``-S`` (``-failure_severity`` on failure).
``released_reward`` computes that from a ``ReleasedScoring`` that a critic profile carries (built from the public
code, see ``src.reward.critic_profile.AnswerProtocol``).

Raw text is parsed leniently by default (``src.reward.parse``): an error item that does not fit the schema is
skipped, not a reason to lose the critique. Its severity, when readable, still counts in S
(``count_skipped_severity``): the public reward sums every item's severity whatever its category, and a judge that
drifts to a category we do not know (``other_error``) must not make a candidate look better.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

from src.data.schema import Critique
from src.render.job import RenderResult
from src.reward.pair import RewardPair
from src.reward.parse import CritiqueParseError, parse_critique


@dataclass(frozen=True)
class RewardConfig:
    """How a group's critiques become rewards.

    Args:
        normalization: ``group_max`` (paper Eq. 4) or ``fixed`` (public code, S / fixed_scale).
        fixed_scale: severity sum at which the fixed scheme's r_verm reaches 0.
        eps: ε of Eq. 4; keeps a group whose candidates are all perfect (max S = 0) at r_verm = 1.
        render_bonus: r_render for code that rendered to a non-blank image.
        unparseable_severity: severity sum assumed for an unparseable critique; ``None`` = r_verm 0, not in the max.
        strict_parse: parse raw text strictly: any error item off the schema makes the critique unparseable.
        count_skipped_severity: add the readable severities of skipped (off-schema) items to S, as the public code.
    """

    normalization: Literal["group_max", "fixed"] = "group_max"
    fixed_scale: float = 50.0
    eps: float = 1e-6
    render_bonus: float = 1.0
    unparseable_severity: float | None = 25.0
    strict_parse: bool = False
    count_skipped_severity: bool = True

    def __post_init__(self) -> None:
        if self.normalization not in ("group_max", "fixed"):
            raise ValueError(f"normalization: {self.normalization!r} is not 'group_max' or 'fixed'")
        if self.fixed_scale <= 0:
            raise ValueError(f"fixed_scale: must be positive, got {self.fixed_scale}")
        if self.eps <= 0:
            raise ValueError(f"eps: must be positive, got {self.eps}")
        if self.unparseable_severity is not None and self.unparseable_severity < 0:
            raise ValueError(f"unparseable_severity: must be >= 0 or None, got {self.unparseable_severity}")


@dataclass(frozen=True)
class CandidateReward:
    """One candidate's reward and how it came about (for ``reward/*`` logging and sample dumps)."""

    reward: float
    render_reward: float
    verm_reward: float
    rendered: bool
    error_kind: str | None = None  # the render failure, when not rendered
    severity_sum: float | None = None  # S (fallback value when unparseable); None when not rendered
    n_errors: int | None = None
    parse_error: str | None = None  # CritiqueParseError.reason when the critique was unreadable
    n_skipped: int | None = None  # error items of the critique left out as off-schema (lenient parse)


def grouped_critique_rewards(
    pairs: Sequence[RewardPair],
    critiques: Sequence[Critique | str | CritiqueParseError | None],
    config: RewardConfig | None = None,
) -> tuple[list[float], list[CandidateReward]]:
    """``critique_to_reward`` over each GRPO group of ``pairs`` (``RewardPair.group``; ``None``: a group of its own),
    rewards in pair order: Eq. 4 divides by the largest severity sum of the candidate's own group."""
    if len(pairs) != len(critiques):
        raise ValueError(f"pairs and critiques differ in length: {len(pairs)} vs {len(critiques)}")
    rewards: list[float] = [0.0] * len(pairs)
    breakdowns: list[CandidateReward | None] = [None] * len(pairs)
    groups: dict[Hashable, list[int]] = {}
    for i, pair in enumerate(pairs):
        groups.setdefault(("pair", i) if pair.group is None else ("group", pair.group), []).append(i)
    for members in groups.values():
        domains = {pairs[i].domain for i in members}
        if len(domains) > 1:
            raise ValueError(f"group {pairs[members[0]].group!r} mixes domains {sorted(domains)}")
        group_rewards, group_breakdown = critique_to_reward(
            [pairs[i].candidate for i in members], [critiques[i] for i in members], domains.pop(), config
        )
        for i, r, b in zip(members, group_rewards, group_breakdown, strict=True):
            rewards[i], breakdowns[i] = r, b
    return rewards, [b for b in breakdowns if b is not None]


def critique_to_reward(
    renders: Sequence[RenderResult | bool],
    critiques: Sequence[Critique | str | CritiqueParseError | None],
    domain: str,
    config: RewardConfig | None = None,
) -> tuple[list[float], list[CandidateReward]]:
    """Rewards of one group, in candidate order, and the per-candidate breakdown.

    Args:
        renders: per candidate, its ``RenderResult`` (or just whether it rendered to a non-blank image).
        critiques: per candidate, the judge's raw text, an already parsed ``Critique``, a ``CritiqueParseError``,
            or ``None`` for candidates that did not render (they are never judged).
        domain: ``chart`` / ``table`` / ``svg``, for parsing raw text.
        config: the scheme; default: the paper's group-max normalization.
    """
    config = config or RewardConfig()
    if len(renders) != len(critiques):
        raise ValueError(f"renders and critiques differ in length: {len(renders)} vs {len(critiques)}")

    # Pass 1: S per rendered candidate.
    rows: list[dict] = []
    for i, (render, critique) in enumerate(zip(renders, critiques, strict=True)):
        ok = render.ok if isinstance(render, RenderResult) else bool(render)
        kind = render.error_kind if isinstance(render, RenderResult) else (None if ok else "failed")
        row: dict = {"rendered": ok, "error_kind": None if ok else kind}
        if ok:
            if critique is None:
                raise ValueError(f"candidate {i} rendered but has no critique; judge every rendered candidate")
            parsed, error = _as_critique(critique, domain, config.strict_parse)
            if parsed is not None:
                s_total = parsed.severity_sum + (parsed.skipped_severity if config.count_skipped_severity else 0)
                row.update(severity_sum=float(s_total), n_errors=len(parsed.errors), n_skipped=parsed.skipped_items)
            else:
                row.update(severity_sum=config.unparseable_severity, parse_error=error)
        rows.append(row)

    # Pass 2: normalize. Eq. 4's max runs over rendered candidates with a severity (failed renders have none).
    severities = [r["severity_sum"] for r in rows if r["rendered"] and r.get("severity_sum") is not None]
    group_max = max(severities, default=0.0)
    rewards, breakdown = [], []
    for row in rows:
        severity = row.get("severity_sum")
        if not row["rendered"]:
            render_reward = verm = 0.0
        else:
            render_reward = config.render_bonus
            if severity is None:  # unparseable and no fallback: worst rendered score
                verm = 0.0
            elif config.normalization == "group_max":
                verm = _clip01(1.0 - severity / (group_max + config.eps))
            else:
                verm = _clip01(1.0 - severity / config.fixed_scale)
        total = render_reward + verm
        rewards.append(total)
        breakdown.append(
            CandidateReward(
                reward=total,
                render_reward=render_reward,
                verm_reward=verm,
                rendered=row["rendered"],
                error_kind=row["error_kind"],
                severity_sum=severity,
                n_errors=row.get("n_errors"),
                parse_error=row.get("parse_error"),
                n_skipped=row.get("n_skipped"),
            )
        )
    return rewards, breakdown


@dataclass(frozen=True)
class ReleasedScoring:
    """The numbers of the released reward code's formula for one domain.

    Args:
        formula: ``clipped`` (charts, SVG: ``render_reward + judge_weight * clip(1 - S / max_severity, 0, 1)``) or
            ``negative_sum`` (tables: ``-S``).
        max_severity: ``clipped`` only: S at which the judge's part reaches 0 (released: 50, "from RM statistics").
        render_reward: ``clipped`` only: what rendering to a non-white image earns (released: 1).
        judge_weight: ``clipped`` only: the judge's part's weight (released: REWARD_MAX 2 - 1).
        failure_severity: S assumed when no attempt gave a readable answer (released: 25 for charts and SVG, 4 for
            tables).
        min_reward: the reward without a judged render: no code, a failed render, a white image, or an engine that
            gave up (released: 0 for charts and SVG; tables score every such case ``-failure_severity``).
    """

    formula: Literal["clipped", "negative_sum"]
    max_severity: float = 50.0
    render_reward: float = 1.0
    judge_weight: float = 1.0
    failure_severity: float = 25.0
    min_reward: float = 0.0

    def __post_init__(self) -> None:
        if self.formula not in ("clipped", "negative_sum"):
            raise ValueError(f"formula: {self.formula!r} is not 'clipped' or 'negative_sum'")
        for name in ("max_severity", "render_reward", "judge_weight", "failure_severity", "min_reward"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name}: {value!r} is not a finite number")
        if self.max_severity <= 0:
            raise ValueError(f"max_severity: must be positive, got {self.max_severity}")


def released_reward(
    scoring: ReleasedScoring,
    render: RenderResult | bool,
    severity: float | None,
    engine_error: str | None = None,
) -> CandidateReward:
    """One candidate's reward as the released code computes it.

    Args:
        scoring: the domain's numbers.
        render: the candidate's render (or whether it rendered to a non-blank image).
        severity: S read from the last answer, ``None`` when no attempt was readable.
        engine_error: set when the judge call itself failed: the released chart/SVG code then returns its minimum,
            its table code the failure value.

    One deliberate difference: a NaN S (``"severity": NaN`` is valid to Python's JSON reader) and, for tables, an
    infinite one make the released reward NaN or infinite, which no GRPO step survives; both score as a failure
    here. An infinite S on charts and SVG is well defined there (the clip gives 0) and kept.
    """
    ok = render.ok if isinstance(render, RenderResult) else bool(render)
    kind = render.error_kind if isinstance(render, RenderResult) else (None if ok else "failed")
    if not ok or engine_error is not None:
        low = scoring.min_reward if scoring.formula == "clipped" else -scoring.failure_severity
        return CandidateReward(low, 0.0, 0.0, ok, None if ok else kind, parse_error=engine_error)
    failed = severity is None or math.isnan(severity) or (scoring.formula == "negative_sum" and math.isinf(severity))
    s = scoring.failure_severity if failed or severity is None else float(severity)
    reason = None if not failed else "no readable answer" if severity is None else f"unusable severity sum {severity}"
    if scoring.formula == "negative_sum":
        return CandidateReward(-s, 0.0, -s, True, severity_sum=s, parse_error=reason)
    verm = scoring.judge_weight * _clip01(1.0 - s / scoring.max_severity)
    return CandidateReward(
        scoring.render_reward + verm, scoring.render_reward, verm, True, severity_sum=s, parse_error=reason
    )


def _as_critique(
    critique: Critique | str | CritiqueParseError, domain: str, strict: bool
) -> tuple[Critique | None, str | None]:
    if isinstance(critique, Critique):
        if critique.domain != domain:
            raise ValueError(f"critique is for domain {critique.domain!r}, the group is {domain!r}")
        return critique, None
    if isinstance(critique, CritiqueParseError):
        return None, critique.reason
    if isinstance(critique, str):
        try:
            return parse_critique(critique, domain, strict=strict), None
        except CritiqueParseError as exc:
            return None, exc.reason
    raise TypeError(f"critique: expected Critique, str or CritiqueParseError, got {type(critique).__name__}")


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, value))
