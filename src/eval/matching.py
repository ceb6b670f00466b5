"""Match a judge's predicted errors to a benchmark's reference errors, one to one, at level ``yes`` or ``partial``.

VC-RewardBench's F1h counts only ``yes`` matches, F1s counts a ``partial`` match as half a true positive; both are
computed in ``src.eval.judge_bench`` from the matches made here. Two matchers share one interface
(``match(tasks) -> list[list[ErrorMatch] | None]``, ``None`` when the matcher could not decide a pair):

- ``DeterministicMatcher`` (the default): reproducible, free, and fast. Two errors are candidates when their types
  agree; their similarity is the Dice coefficient of the content words and numbers of ``location + description``.
  ``yes`` at Dice >= ``yes_threshold``, ``partial`` at >= ``partial_threshold``. The one-to-one assignment maximizes
  the F1s credit (yes = 1, partial = 0.5) with similarity as the tie-break, solved exactly by
  ``scipy.optimize.linear_sum_assignment`` — a greedy pass can pair an error with its second-best partner and lose a
  match elsewhere.
- ``LLMMatcher``: the public protocol's matcher (an LLM reads both lists and returns the matched ids), through any
  ``GenerationEngine``. Like the public evaluator it does not require equal types, cleans the reply (ids in range,
  levels ``yes``/``partial`` only, each id used once, first claim wins) and drops a pair whose reply never parses.
  Two choices differ from the public script, both because its results then depend on how the LLM fills redundant
  fields: unmatched errors are always the complement of the cleaned matches (the script trusts the LLM's own
  ``unmatched_*`` lists when they are non-empty), and a pair with nothing on one side is decided without asking
  (no match is possible; the script asks and drops the pair when the reply is unreadable). Unreadable replies are
  re-asked ``attempts - 1`` times before the pair is given up.

Errors are the official JSON objects (``type`` or ``category`` such as ``"data_error"``, ``severity``,
``location``, ``description``); which ones reach a matcher is decided by the benchmark, not here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from scipy.optimize import linear_sum_assignment

from src.engines.engine import ChatRequest, GenerationEngine, SamplingSettings

MatchLevel = Literal["yes", "partial"]
# F1s credit per match level, as the public evaluator counts it.
LEVEL_CREDIT: dict[str, float] = {"yes": 1.0, "partial": 0.5}

_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
# Words that say nothing about *which* error is meant; removing them keeps "the legend is missing" from matching
# "the title is missing" on "the ... is missing" alone.
_STOPWORDS = frozenset(
    (  # noqa: SIM905 (a word list reads better as one string)
        "a an the of in on at to for from by with and or but is are was were be been being it its this that these "
        "those as into than then there their which who whom whose what when where while should shown show shows "
        "instead candidate reference generated original image images chart table graphic svg error errors"
    ).split()
)
_SPELLING = {"colour": "color", "colours": "colors", "grey": "gray", "centre": "center", "labelled": "labeled"}


def error_type(error: Mapping[str, Any]) -> str | None:
    """The error's type name as the public evaluator reads it: ``type``, else ``category`` (falsy values skipped)."""
    value = error.get("type") or error.get("category")
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ErrorMatch:
    """Predicted error ``pred_id`` and reference error ``ref_id`` describe the same discrepancy."""

    pred_id: int
    ref_id: int
    level: MatchLevel


@dataclass(frozen=True)
class MatchTask:
    """One pair's error lists (official JSON objects) to be matched."""

    domain: str
    predicted: tuple[Mapping[str, Any], ...]
    reference: tuple[Mapping[str, Any], ...]


@runtime_checkable
class ErrorMatcher(Protocol):
    """Matches many pairs at once (an LLM matcher batches them); ``None`` marks a pair it could not decide."""

    def match(self, tasks: Sequence[MatchTask]) -> list[list[ErrorMatch] | None]: ...


def content_words(text: str) -> frozenset[str]:
    """Lower-cased words and numbers without stop words, plural 's' and British spellings folded."""
    words = set()
    for word in _WORD.findall(text.lower()):
        word = _SPELLING.get(word, word)
        if word in _STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss") and not word[0].isdigit():
            word = word[:-1]
        words.add(word)
    return frozenset(words)


def dice(a: frozenset[str], b: frozenset[str]) -> float:
    """2|A∩B| / (|A|+|B|); 0 when both are empty (two errors without text are not evidence of the same error)."""
    if not a and not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def _locations_compatible(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    loc_a, loc_b = (content_words(str(e.get("location") or "")) for e in (a, b))
    return not loc_a or not loc_b or bool(loc_a & loc_b)


def _error_text(error: Mapping[str, Any]) -> str:
    parts = [error.get("location"), error.get("description")]
    return " ".join(str(p) for p in parts if isinstance(p, str | int | float) and not isinstance(p, bool))


class DeterministicMatcher:
    """Type-equal, text-similar errors, assigned one to one to maximize the F1s credit.

    Args:
        yes_threshold: Dice similarity from which two errors are the same error (a full match).
        partial_threshold: Dice similarity from which they are a partial match; below it, no match.
        require_same_type: only errors of the same type can match (the public LLM protocol does not require it,
            but a deterministic matcher has no other way to tell "same point, other words" from a coincidence).
        require_location_overlap: when both errors name a location, the locations must share a content word:
            "legend is missing" and "title is missing" share half their words but are different errors. Errors
            without a location (the official table format has none) are compared on their descriptions alone.
    """

    def __init__(
        self,
        yes_threshold: float = 0.6,
        partial_threshold: float = 0.3,
        require_same_type: bool = True,
        require_location_overlap: bool = True,
    ) -> None:
        if not 0 < partial_threshold <= yes_threshold <= 1:
            raise ValueError(
                f"thresholds: need 0 < partial_threshold <= yes_threshold <= 1, got {partial_threshold}, "
                f"{yes_threshold}"
            )
        self.yes_threshold = yes_threshold
        self.partial_threshold = partial_threshold
        self.require_same_type = require_same_type
        self.require_location_overlap = require_location_overlap

    def match(self, tasks: Sequence[MatchTask]) -> list[list[ErrorMatch] | None]:
        return [self.match_one(task.predicted, task.reference) for task in tasks]

    def level(self, similarity: float) -> MatchLevel | None:
        if similarity >= self.yes_threshold:
            return "yes"
        if similarity >= self.partial_threshold:
            return "partial"
        return None

    def match_one(
        self, predicted: Sequence[Mapping[str, Any]], reference: Sequence[Mapping[str, Any]]
    ) -> list[ErrorMatch]:
        if not predicted or not reference:
            return []
        pred_words = [content_words(_error_text(e)) for e in predicted]
        ref_words = [content_words(_error_text(e)) for e in reference]
        similarity = np.zeros((len(predicted), len(reference)))
        levels: dict[tuple[int, int], MatchLevel] = {}
        for i, pred in enumerate(predicted):
            for j, ref in enumerate(reference):
                if self.require_same_type and error_type(pred) != error_type(ref):
                    continue
                if self.require_location_overlap and not _locations_compatible(pred, ref):
                    continue
                sim = dice(pred_words[i], ref_words[j])
                level = self.level(sim)
                if level is not None:
                    similarity[i, j] = sim
                    levels[(i, j)] = level
        if not levels:
            return []
        # Credit dominates (a yes beats two partials only when it earns more F1s credit); similarity breaks ties.
        weight = np.zeros_like(similarity)
        for (i, j), level in levels.items():
            weight[i, j] = LEVEL_CREDIT[level] + 1e-3 * similarity[i, j]
        rows, cols = linear_sum_assignment(weight, maximize=True)
        return [
            ErrorMatch(int(i), int(j), levels[(int(i), int(j))])
            for i, j in zip(rows, cols, strict=True)
            if (int(i), int(j)) in levels
        ]


class MatchReplyError(ValueError):
    """A matcher LLM's reply that holds no usable JSON; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def matching_prompt(domain: str, predicted: Sequence[Mapping[str, Any]], reference: Sequence[Mapping[str, Any]]) -> str:
    """Ask an LLM which predicted errors are the same discrepancies as which reference errors (our wording)."""

    def listing(errors: Sequence[Mapping[str, Any]], id_key: str) -> str:
        rows = []
        for i, err in enumerate(errors):
            row: dict[str, Any] = {id_key: i, "type": error_type(err) or "unknown"}
            if err.get("location"):
                row["location"] = err.get("location")
            row["description"] = err.get("description", "")
            row["severity"] = err.get("severity")
            rows.append(row)
        return json.dumps(rows, ensure_ascii=False, indent=1)

    return (
        f"Two reviewers compared the same pair of {domain} images and each listed the discrepancies they found. "
        "Decide which entries of the PREDICTED list describe the same concrete discrepancy as an entry of the "
        "REFERENCE list.\n\n"
        "Rules:\n"
        "- Same discrepancy means the same element or place (a cell, a series, a label, a shape) and the same kind "
        "of difference. Different words for one problem still match; the type field may differ.\n"
        '- Use "yes" when both clearly describe that one discrepancy, "partial" when the predicted entry points at '
        "it but is vaguer or only half right.\n"
        "- Each predicted entry matches at most one reference entry and each reference entry at most one predicted "
        "entry. When unsure, leave entries unmatched: a wrong match is worse than a missed one.\n\n"
        "Reply with one JSON object and nothing else:\n"
        '{"matches": [{"pred_id": <int>, "gt_id": <int>, "match_level": "yes" | "partial"}]}\n\n'
        f"PREDICTED:\n{listing(predicted, 'pred_id')}\n\nREFERENCE:\n{listing(reference, 'gt_id')}"
    )


def parse_match_reply(text: str, n_predicted: int, n_reference: int) -> list[ErrorMatch]:
    """Cleaned one-to-one matches from a reply; out-of-range ids, other levels and repeated ids are skipped."""
    if not isinstance(text, str) or "{" not in text or "}" not in text:
        raise MatchReplyError("no JSON object in the reply")
    body = text[text.find("{") : text.rfind("}") + 1]
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise MatchReplyError(f"reply is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise MatchReplyError(f"expected a JSON object, got {type(obj).__name__}")
    raw = obj.get("matches") or []
    if not isinstance(raw, list):
        raise MatchReplyError(f"matches: expected a list, got {type(raw).__name__}")
    used_pred: set[int] = set()
    used_ref: set[int] = set()
    matches: list[ErrorMatch] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        pid, gid, level = item.get("pred_id"), item.get("gt_id"), item.get("match_level", "no")
        if level not in LEVEL_CREDIT:
            continue
        if not isinstance(pid, int) or not isinstance(gid, int) or isinstance(pid, bool) or isinstance(gid, bool):
            continue
        if not (0 <= pid < n_predicted and 0 <= gid < n_reference) or pid in used_pred or gid in used_ref:
            continue
        used_pred.add(pid)
        used_ref.add(gid)
        matches.append(ErrorMatch(pid, gid, level))
    return matches


class LLMMatcher:
    """The public protocol's LLM matcher through any engine; batched, with re-asks for unreadable replies.

    Args:
        engine: any ``GenerationEngine`` (a served model through ``OpenAIEngine``, a local one through ``HFEngine``).
        sampling: defaults to greedy decoding, so a re-scored file gives the same matches when the engine is
            deterministic.
        attempts: how many times a pair is asked before it is given up (``None`` for that pair).
        batch_size: pairs per ``engine.generate`` call.
    """

    def __init__(
        self,
        engine: GenerationEngine,
        sampling: SamplingSettings | None = None,
        attempts: int = 3,
        batch_size: int = 16,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts: must be >= 1, got {attempts}")
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        self.engine = engine
        self.sampling = sampling or SamplingSettings(temperature=0.0, max_new_tokens=1024)
        self.attempts = attempts
        self.batch_size = batch_size
        self.failures: list[str] = []  # reason of each pair given up, for the summary

    def match(self, tasks: Sequence[MatchTask]) -> list[list[ErrorMatch] | None]:
        results: list[list[ErrorMatch] | None] = [None] * len(tasks)
        pending = []
        for i, task in enumerate(tasks):
            if task.predicted and task.reference:
                pending.append(i)
            else:
                results[i] = []
        reasons: dict[int, str] = {}
        for _ in range(self.attempts):
            if not pending:
                break
            still: list[int] = []
            for start in range(0, len(pending), self.batch_size):
                chunk = pending[start : start + self.batch_size]
                requests = [self._request(tasks[i]) for i in chunk]
                answers = self.engine.generate(requests, n=1, sampling=self.sampling)
                for i, answer in zip(chunk, answers, strict=True):
                    completion = answer[0] if answer else None
                    if completion is None or completion.error:
                        reasons[i] = (completion.error if completion is not None else None) or "no completion"
                        still.append(i)
                        continue
                    try:
                        results[i] = parse_match_reply(
                            completion.text, len(tasks[i].predicted), len(tasks[i].reference)
                        )
                    except MatchReplyError as exc:
                        reasons[i] = exc.reason
                        still.append(i)
            pending = still
        self.failures.extend(reasons[i] for i in pending)
        return results

    @staticmethod
    def _request(task: MatchTask) -> ChatRequest:
        prompt = matching_prompt(task.domain, task.predicted, task.reference)
        return ChatRequest(messages=[{"role": "user", "content": [{"type": "text", "text": prompt}]}])
