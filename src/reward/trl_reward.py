"""Visual-ERM (or any baseline) as a reward function for TRL's ``GRPOTrainer``.

TRL calls reward functions as ``f(prompts, completions, **dataset_columns) -> list[float]`` with every dataset
column repeated per generation. This adapter renders each completion in a ``RenderPool`` (the code never runs in the
training process), pairs it with the reference image from a dataset column, and scores the batch with any
``RewardFunction``: the judge, a baseline, or a weighted sum::

    from trl import GRPOConfig, GRPOTrainer
    reward = RenderedReward(VisualERMJudge(OpenAIEngine(...)), RenderPool(workers=8))
    GRPOTrainer(model, reward_funcs=[reward], train_dataset=ds, args=GRPOConfig(...)).train()

The dataset needs the reference image (column ``image`` by default, which TRL also puts into a VLM's prompt; a PIL
image, PNG bytes, a path, a ``datasets`` image dict, or a one-element list of those) and the domain (column
``domain``, or a fixed ``domain``). Completions are grouped by reference pixels, so the paper's group normalization
(Eq. 4) runs over each prompt's generations even though TRL passes them flattened.

verl: its custom reward hook is per sample, ``compute_score(data_source, solution_str, ground_truth,
extra_info=None) -> float``, run in a process pool by the ``prime`` reward manager. verl 0.9.1 pins
``transformers<5.11`` (we need 5.24), so it is not installed here and no adapter is shipped; the form it would take
is written up in the project notes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image

from src.render.job import DOMAINS
from src.render.pool import RenderPool
from src.reward.judge import VisualERMJudge
from src.reward.pair import PairError, RewardFunction, RewardPair, load_reference
from src.reward.render_mode import RENDER_MODES, RenderMode, finish_render, render_job

# Longest side the judge sees per domain (paper: 1024 for charts and SVG, 768 for tables).
_MAX_SIDE = {"chart": 1024, "table": 768, "svg": 1024}


class RenderedReward:
    """A TRL reward function: render completions, then score them against the reference images.

    Args:
        reward: scores the rendered pairs (``VisualERMJudge``, a baseline, ``WeightedReward``).
        pool: renders the completions; default: a pool of two workers started on first use (``close`` stops it).
        image_column: dataset column holding the reference image.
        domain_column: dataset column holding each row's domain; ignored when ``domain`` is given.
        domain: one domain for every row (``chart`` / ``table`` / ``svg``).
        reference_source_column: dataset column with the reference code/markup, for rewards that read it (TEDS).
        render_mode: ``ours``, or ``released`` to show the judge the pictures the released reward code renders
            (``src.reward.render_mode``), for training against the released judge.
    """

    __name__ = "visual_erm"  # TRL names the reward's log columns after it

    def __init__(
        self,
        reward: RewardFunction,
        pool: RenderPool | None = None,
        image_column: str = "image",
        domain_column: str = "domain",
        domain: str | None = None,
        reference_source_column: str | None = None,
        render_mode: RenderMode = "ours",
    ) -> None:
        if domain is not None and domain not in DOMAINS:
            raise ValueError(f"domain: {domain!r} is not one of {DOMAINS}")
        if render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode: {render_mode!r} is not one of {RENDER_MODES}")
        self.render_mode: RenderMode = render_mode
        self.reward = reward
        self._own_pool = pool is None
        self.pool = pool if pool is not None else RenderPool(workers=2)
        self.image_column = image_column
        self.domain_column = domain_column
        self.domain = domain
        self.reference_source_column = reference_source_column

    def __call__(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        texts = [completion_text(c) for c in completions]
        pairs = self.pairs(texts, columns)
        if isinstance(self.reward, VisualERMJudge):
            result = self.reward.judge(pairs)
            rewards = result.rewards
            _log(columns, "visual_erm/parse_rate", result.parse_rate)
            log_extra = columns.get("log_extra")
            if callable(log_extra):  # TRL's completions table: what the judge held against each completion
                log_extra("severity", [p.breakdown.severity_sum for p in result.pairs])
                log_extra("render_error", [p.breakdown.error_kind for p in result.pairs])
        else:
            rewards = self.reward(pairs)
        _log(columns, "visual_erm/render_rate", sum(p.rendered for p in pairs) / max(1, len(pairs)))
        return [float(r) for r in rewards]

    def pairs(self, texts: Sequence[str], columns: dict[str, Any]) -> list[RewardPair]:
        """Render ``texts`` and pair each with its row's reference image, grouped by reference."""
        n = len(texts)
        domains = [self.domain] * n if self.domain is not None else _column(columns, self.domain_column, n)
        references = [_reference_image(v, i) for i, v in enumerate(_column(columns, self.image_column, n))]
        sources = _column(columns, self.reference_source_column, n) if self.reference_source_column else [None] * n
        for i, domain in enumerate(domains):
            if domain not in DOMAINS:
                raise PairError(f"{self.domain_column}[{i}]: {domain!r} is not one of {DOMAINS}")
        jobs = [render_job(d, t, self.render_mode, _MAX_SIDE[d]) for d, t in zip(domains, texts, strict=True)]
        renders = [finish_render(r, d, self.render_mode) for r, d in zip(self.pool.render(jobs), domains, strict=True)]
        groups: dict[tuple[str, str], str] = {}
        return [
            RewardPair(
                reference=ref,
                candidate=render,
                domain=domain,
                group=groups.setdefault((domain, _pixels_key(ref)), f"g{len(groups)}"),
                reference_source=source,
                candidate_source=text,
            )
            for ref, render, domain, source, text in zip(references, renders, domains, sources, texts, strict=True)
        ]

    def close(self) -> None:
        if self._own_pool:
            self.pool.close()


def completion_text(completion: Any) -> str:
    """The text of one TRL completion: a string (standard format) or assistant messages (conversational)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = []
        for message in completion:
            content = message.get("content", "") if isinstance(message, dict) else message
            if isinstance(content, list):  # multimodal content parts
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            parts.append(str(content))
        return "\n".join(parts)
    raise PairError(f"completion: expected a string or a list of messages, got {type(completion).__name__}")


def _column(columns: dict[str, Any], name: str, n: int) -> list[Any]:
    if name not in columns:
        raise PairError(f"dataset column {name!r} is missing; columns passed: {sorted(columns)}")
    values = list(columns[name])
    if len(values) != n:
        raise PairError(f"dataset column {name!r} has {len(values)} values for {n} completions")
    return values


def _reference_image(value: Any, index: int) -> Image.Image:
    if isinstance(value, list | tuple):  # TRL's "images" column: the first image is the reference
        if not value:
            raise PairError(f"reference image {index}: empty image list")
        value = value[0]
    if isinstance(value, dict):  # an undecoded `datasets` Image feature
        value = value.get("bytes") or value.get("path")
    try:
        return load_reference(value)
    except PairError as exc:
        raise PairError(f"reference image {index}: {exc}") from None


def _pixels_key(image: Image.Image) -> str:
    return hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest() + f"{image.size}"


def _log(columns: dict[str, Any], name: str, value: float) -> None:
    log_metric: Callable[[str, float], None] | None = columns.get("log_metric")
    if callable(log_metric):
        log_metric(name, value)
