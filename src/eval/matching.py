"""Match a judge's predicted errors to a benchmark's reference errors, one to one, at level ``yes`` or ``partial``.

VC-RewardBench's F1h counts only ``yes`` matches, F1s counts a ``partial`` match as half a true positive; both are
computed in ``src.eval.judge_bench`` from the matches made here. Two matchers share one interface
(``match(tasks) -> list[list[ErrorMatch] | None]``, ``None`` when the matcher could not decide a pair):

- ``DeterministicMatcher`` (the default): reproducible, free, and fast. Any two errors are candidates, whatever their
  types (the public evaluator dropped its equal-type rule because the types overlap in meaning: a wrong bar height is
  a ``data_error`` to one annotator and a ``structure_error`` to another); their similarity is the Dice coefficient
  of the content words and numbers of ``location + description``.
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
  With a ``MatcherProfile`` built from the public evaluator (``tools/build_prompt_profile.py --bench-out``) it runs
  that evaluator's protocol instead, exactly: its prompt and system turn, its token budget, every pair asked once
  (empty sides too), its reply reader, and the reply's own ``unmatched_*`` lists trusted when non-empty — so F1
  equals the evaluator's on the same replies.

Errors are the official JSON objects (``type`` or ``category`` such as ``"data_error"``, ``severity``,
``location``, ``description``); which ones reach a matcher is decided by the benchmark, not here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
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


@dataclass(frozen=True)
class PairMatching:
    """Matches with the unmatched errors stated explicitly, as the public evaluator takes them from an LLM's reply.

    ``unmatched_pred`` / ``unmatched_ref`` are indices (Python's, so -1 is the last error) counted as false positives
    and negatives as they are; ``None`` means the errors no match uses.
    """

    matches: tuple[ErrorMatch, ...]
    unmatched_pred: tuple[int, ...] | None = None
    unmatched_ref: tuple[int, ...] | None = None


MatchResult = list[ErrorMatch] | PairMatching | None


@runtime_checkable
class ErrorMatcher(Protocol):
    """Matches many pairs at once (an LLM matcher batches them); ``None`` marks a pair it could not decide."""

    def match(self, tasks: Sequence[MatchTask]) -> list[MatchResult]: ...


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
        require_same_type: only errors of the same type can match; off by default, as in the public evaluator (the
            location rule below already keeps "same words, other element" apart).
        require_location_overlap: when both errors name a location, the locations must share a content word:
            "legend is missing" and "title is missing" share half their words but are different errors. Errors
            without a location (the official table format has none) are compared on their descriptions alone.
    """

    def __init__(
        self,
        yes_threshold: float = 0.6,
        partial_threshold: float = 0.3,
        require_same_type: bool = False,
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

    def match(self, tasks: Sequence[MatchTask]) -> list[MatchResult]:
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


MatcherField = Literal["category", "allowed_types", "predicted", "reference"]


@dataclass(frozen=True)
class MatcherProfile:
    """An LLM matcher's protocol, as a file built from the public evaluator (its text is not ours to ship).

    Args:
        name: shown in summaries.
        prompt: the prompt in pieces, ``{"text": ...}`` written as is and ``{"field": ...}`` filled per pair: the
            domain, its allowed types (a Python list's ``str``), and the predicted / reference error lists (JSON,
            two-space indent, non-ASCII kept; each error as ``{pred_id|gt_id, type, description, severity}``).
        system: a system turn, or ``None``.
        sampling: how the matcher samples (the evaluator sets only the token budget).
        allowed_types: per domain, the error types the evaluator keeps, in its order.
        released_reply: read replies as the evaluator does (its reader; ids that are booleans count as 0/1; an item
            that is not an object fails the pair; the reply's non-empty ``unmatched_*`` lists are trusted) and ask
            about every pair, empty sides included; ``False``: our reader, complement of the matches.
        attempts: times a pair is asked while its reply is unreadable (the evaluator: once).
        source: provenance; never read by code.
    """

    name: str
    prompt: tuple[Mapping[str, str], ...]
    system: str | None
    sampling: SamplingSettings
    allowed_types: Mapping[str, tuple[str, ...]]
    released_reply: bool = True
    attempts: int = 1
    source: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prompt", tuple(dict(p) for p in self.prompt))
        for i, piece in enumerate(self.prompt):
            ok = (set(piece) == {"text"} and isinstance(piece["text"], str)) or (
                set(piece) == {"field"} and piece["field"] in ("category", "allowed_types", "predicted", "reference")
            )
            if not ok:
                raise ValueError(f"prompt[{i}]: expected {{'text': str}} or {{'field': <known field>}}, got {piece!r}")
        object.__setattr__(self, "allowed_types", {str(k): tuple(v) for k, v in self.allowed_types.items()})
        if self.attempts < 1:
            raise ValueError(f"attempts: must be >= 1, got {self.attempts}")

    def prompt_for(self, task: MatchTask) -> str:
        def listing(errors: Sequence[Mapping[str, Any]], id_key: str) -> str:
            rows = [
                {
                    id_key: i,
                    "type": _raw_type(e),
                    "description": e.get("description", ""),
                    "severity": e.get("severity", None),
                }
                for i, e in enumerate(errors)
            ]
            return json.dumps(rows, ensure_ascii=False, indent=2)

        values = {
            "category": str(task.domain),
            "allowed_types": str(list(self.allowed_types.get(task.domain, ()))),
            "predicted": listing(task.predicted, "pred_id"),
            "reference": listing(task.reference, "gt_id"),
        }
        return "".join(p["text"] if "text" in p else values[p["field"]] for p in self.prompt).strip()

    def request(self, task: MatchTask) -> ChatRequest:
        messages: list[dict[str, Any]] = [] if self.system is None else [{"role": "system", "content": self.system}]
        messages.append({"role": "user", "content": [{"type": "text", "text": self.prompt_for(task)}]})
        return ChatRequest(messages=messages)


def _raw_type(error: Mapping[str, Any]) -> Any:
    value = error.get("type") or error.get("category")
    return value if value is not None else "unknown"


def save_matcher_profile(profile: MatcherProfile, path: str | Path) -> Path:
    path = Path(path)
    data = asdict(profile)
    data["allowed_types"] = {k: list(v) for k, v in profile.allowed_types.items()}
    data["prompt"] = [dict(p) for p in profile.prompt]
    path.write_text(json.dumps({"format_version": 1, **data}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_matcher_profile(path: str | Path) -> MatcherProfile:
    """The matcher profile at ``path``; ``ValueError`` naming the file and field when it cannot be used."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or raw.pop("format_version", None) != 1:
            raise ValueError("not a matcher profile of format_version 1")
        unknown = set(raw) - {
            "name",
            "prompt",
            "system",
            "sampling",
            "allowed_types",
            "released_reply",
            "attempts",
            "source",
        }
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        return MatcherProfile(**{**raw, "sampling": SamplingSettings(**raw["sampling"])})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: cannot use this matcher profile: {exc}") from None


def parse_released_reply(text: str, n_predicted: int, n_reference: int) -> PairMatching:
    """A reply read as the public evaluator reads it; ``MatchReplyError`` wherever the evaluator drops the pair."""
    raw = text.strip() if isinstance(text, str) else ""
    if raw.startswith("```"):
        raw = raw.strip("`")
        if raw.find("{") >= 0:
            raw = raw[raw.find("{") :]
    first, last = raw.find("{"), raw.rfind("}")
    if first >= 0 and last >= 0 and last > first:
        raw = raw[first : last + 1]
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MatchReplyError(f"reply is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise MatchReplyError(f"expected a JSON object, got {type(obj).__name__}")
    raw_matches = obj.get("matches", []) or []
    if not isinstance(raw_matches, list) or not all(isinstance(m, dict) for m in raw_matches):
        raise MatchReplyError("matches: not a list of objects")
    used_pred: set[int] = set()
    used_ref: set[int] = set()
    matches: list[ErrorMatch] = []
    for item in raw_matches:
        pid, gid, level = item.get("pred_id"), item.get("gt_id"), item.get("match_level", "no")
        if level not in ("yes", "partial") or not isinstance(pid, int) or not isinstance(gid, int):
            continue  # a boolean id passes as the evaluator's isinstance(..., int) lets it: True is 1
        if not (0 <= pid < n_predicted and 0 <= gid < n_reference) or pid in used_pred or gid in used_ref:
            continue
        used_pred.add(pid)
        used_ref.add(gid)
        matches.append(ErrorMatch(int(pid), int(gid), level))
    return PairMatching(
        tuple(matches),
        _trusted_unmatched(obj.get("unmatched_pred"), n_predicted, "unmatched_pred"),
        _trusted_unmatched(obj.get("unmatched_gt"), n_reference, "unmatched_gt"),
    )


def _trusted_unmatched(value: Any, n: int, name: str) -> tuple[int, ...] | None:
    """The reply's own list when non-empty (then every entry must index an error, as the evaluator indexes them)."""
    if not value:
        return None
    if not isinstance(value, list | str | dict):  # set() of a number raises there
        raise MatchReplyError(f"{name}: {type(value).__name__} is not a list")
    entries = list(value)
    if not all(isinstance(e, int) and -n <= e < n for e in entries):
        raise MatchReplyError(f"{name}: an entry does not index an error")
    return tuple(int(e) for e in set(entries))


class LLMMatcher:
    """The public protocol's LLM matcher through any engine; batched, with re-asks for unreadable replies.

    Args:
        engine: any ``GenerationEngine`` (a served model through ``OpenAIEngine``, a local one through ``HFEngine``).
        sampling: defaults to the profile's, else greedy decoding (a re-scored file gives the same matches when the
            engine is deterministic).
        attempts: how many times a pair is asked before it is given up (``None`` for that pair); default: the
            profile's, else 3.
        batch_size: pairs per ``engine.generate`` call.
        profile: the public evaluator's protocol (a ``MatcherProfile`` or its file); default: our prompt and reader.
    """

    def __init__(
        self,
        engine: GenerationEngine,
        sampling: SamplingSettings | None = None,
        attempts: int | None = None,
        batch_size: int = 16,
        profile: MatcherProfile | str | Path | None = None,
    ) -> None:
        if isinstance(profile, str | Path):
            profile = load_matcher_profile(profile)
        attempts = attempts if attempts is not None else profile.attempts if profile is not None else 3
        if attempts < 1:
            raise ValueError(f"attempts: must be >= 1, got {attempts}")
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        self.engine = engine
        self.profile = profile
        default = profile.sampling if profile is not None else SamplingSettings(temperature=0.0, max_new_tokens=1024)
        self.sampling = sampling or default
        self.attempts = attempts
        self.batch_size = batch_size
        self.failures: list[str] = []  # reason of each pair given up, for the summary

    def match(self, tasks: Sequence[MatchTask]) -> list[MatchResult]:
        results: list[MatchResult] = [None] * len(tasks)
        released = self.profile is not None and self.profile.released_reply
        pending = []
        for i, task in enumerate(tasks):
            if released or (task.predicted and task.reference):
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
                    n_pred, n_ref = len(tasks[i].predicted), len(tasks[i].reference)
                    try:
                        results[i] = (
                            parse_released_reply(completion.text, n_pred, n_ref)
                            if released
                            else parse_match_reply(completion.text, n_pred, n_ref)
                        )
                    except MatchReplyError as exc:
                        reasons[i] = exc.reason
                        still.append(i)
            pending = still
        self.failures.extend(reasons[i] for i in pending)
        return results

    def _request(self, task: MatchTask) -> ChatRequest:
        if self.profile is not None:
            return self.profile.request(task)
        prompt = matching_prompt(task.domain, task.predicted, task.reference)
        return ChatRequest(messages=[{"role": "user", "content": [{"type": "text", "text": prompt}]}])
