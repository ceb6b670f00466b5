"""VC-RewardBench scoring: F1h, F1s and Sc of a judge's critiques against reference errors, per domain, type and pooled.

The numbers must equal those of the public ``evaluation/evaluation.py`` (InternLM/Visual-ERM) given the same matches,
so our judge and theirs can share one table. What that script does, and this module therefore does:

- Reference errors are the bench row's ``human_errors`` whose ``type`` is one of the domain's ``*_error`` names;
  predicted errors are ``pred_json["errors"]`` whose ``type`` (else ``category``) is one of them. Others are dropped
  (counted here as ``reference_errors_dropped`` / ``predicted_errors_dropped``).
- A prediction that is missing, ``null`` or not a critique (the judge's answer did not parse) predicts no errors:
  it costs recall, never precision (counted as ``parse_failures``).
- Per pair: TP_hard = ``yes`` matches, TP_soft = ``yes`` + 0.5 × ``partial``, FP = unmatched predicted errors, FN =
  unmatched reference errors. Per type, a match is credited to the *predicted* error's type, FP to the unmatched
  predicted error's type, FN to the unmatched reference error's type.
- Over pairs, TP/FP/FN are **summed**, then P, R, F1 computed once (micro average). A pair with no reference and no
  predicted error adds nothing to the sums; hard F1 of all-zero sums is 1 (every pair perfect). The public soft F1
  has no such rule and gives 0 for all-zero sums; we keep that quirk so the numbers agree.
- Sc: Pearson correlation between predicted and reference severity sums per pair (per domain, per domain and type,
  and pooled over all pairs); undefined (``None`` here, NaN there) with fewer than two pairs or a constant side. A
  severity that is not a number counts 0.
- A pair the matcher could not decide (an LLM reply that never parsed) is left out of every metric, as the script
  leaves out pairs whose evaluation raised (counted as ``match_failures``).
- A matcher may state the unmatched errors itself (``PairMatching``, what the script takes from the LLM's reply when
  its ``unmatched_*`` lists are non-empty): FP and FN are then those lists' lengths, per type by each listed
  error's type, whatever the matches say.

Two deliberate differences, both only where the script reports meaningless values: a domain with no pairs reports
``None`` metrics (the script prints F1h 1.0 and F1s 0.0), and a non-finite severity counts 0 (the script would let a
NaN spoil the correlation).

A scalar reward (SSIM, an embedding cosine, …) has no error list; it gets Sc as the Pearson correlation of its
*negated* reward with the reference severity sum (so higher is better for every judge), and **ordering accuracy**:
over pairs of candidates with different reference severity, how often the less severe one gets the higher score
(ties count half), among candidates of the same reference image and among all candidates of a domain. Critique
judges get the same ordering numbers from their negated predicted severity, so every judge has one row in one table.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from src.data.schema import CATEGORIES
from src.data.shards import CorruptRowError, iter_jsonl, report_corrupt
from src.eval.matching import (
    LEVEL_CREDIT,
    DeterministicMatcher,
    ErrorMatch,
    ErrorMatcher,
    MatchTask,
    PairMatching,
    error_type,
)
from src.render.job import DOMAINS
from src.reward.parse import CritiqueParseError, parse_critique

# The official type names per domain ("layout_error", ...), in the order the public evaluator lists them.
ERROR_TYPES: dict[str, tuple[str, ...]] = {d: tuple(f"{c}_error" for c in CATEGORIES[d]) for d in DOMAINS}
TOTAL = "total"


class BenchError(ValueError):
    """The benchmark or a predictions file cannot be scored as given; the message says what and where."""


@dataclass(frozen=True)
class BenchPair:
    """One benchmark row: a (reference, candidate) image pair of a domain and its reference errors.

    ``key`` identifies the pair across files and resumed runs: the row's ``id``, else ``line<N>`` of the bench file.
    ``row`` is the row as read, echoed into predictions files so the public evaluator can read them.
    """

    key: str
    domain: str
    reference_image: Path
    candidate_image: Path
    reference_errors: tuple[Mapping[str, Any], ...]
    row: Mapping[str, Any] = field(repr=False)
    reference_errors_dropped: int = 0

    @property
    def reference_severity(self) -> float:
        return sum(severity_value(e) for e in self.reference_errors)


def severity_value(error: Mapping[str, Any]) -> float:
    """``float(severity)`` as the public evaluator reads it; anything unreadable or non-finite counts 0."""
    raw = error.get("severity", 0)
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond float range
        return 0.0
    return value if math.isfinite(value) else 0.0


def _kept_errors(raw: Any, domain: str, key: Literal["type", "type_or_category"]) -> tuple[list[dict], int]:
    allowed = ERROR_TYPES[domain]
    kept, dropped = [], 0
    for err in raw or []:
        if not isinstance(err, Mapping):
            dropped += 1
            continue
        name = err.get("type") if key == "type" else error_type(err)
        if name in allowed:
            kept.append(dict(err))
        else:
            dropped += 1
    return kept, dropped


def pair_from_row(row: Mapping[str, Any], key: str, base_dir: Path) -> BenchPair:
    """A bench row (official VC-RewardBench layout or our bench split) → ``BenchPair``; ``ValueError`` names a flaw."""
    domain = row.get("category")
    if domain not in DOMAINS:
        raise ValueError(f"category: {domain!r} is not one of {DOMAINS}")
    raw_errors = row.get("human_errors")
    if raw_errors is not None and not isinstance(raw_errors, list):
        raise ValueError(f"human_errors: expected a list, got {type(raw_errors).__name__}")
    errors, dropped = _kept_errors(raw_errors, domain, "type")
    paths = []
    for name in ("gt_img_path", "pred_img_path"):
        value = row.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name}: missing or not a path")
        path = Path(value)
        paths.append(path if path.is_absolute() else base_dir / path)
    return BenchPair(key, domain, paths[0], paths[1], tuple(errors), row, dropped)


def _row_key(row: Mapping[str, Any], line_no: int) -> str:
    value = row.get("id")
    return str(value) if value is not None and value != "" else f"line{line_no}"


def load_bench(
    path: str | Path, image_root: str | Path | None = None, on_corrupt: Literal["skip", "raise"] = "raise"
) -> list[BenchPair]:
    """Read a VC-RewardBench JSONL (or a JSON list of the same rows, such as a predictions file).

    Relative image paths resolve against ``image_root`` (default: the file's folder). Rows of an unknown domain are
    skipped with a warning (the public evaluator ignores them); other bad rows follow ``on_corrupt``.
    """
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"bench file {path} does not exist")
    base = Path(image_root) if image_root is not None else path.parent
    rows: Iterable[tuple[int, Any]]
    if path.suffix == ".json":
        data = read_json(path)
        rows = enumerate(data, start=1)
    else:
        rows = iter_jsonl(path, on_corrupt)
    pairs: list[BenchPair] = []
    seen: set[str] = set()
    unknown = 0
    for line_no, row in rows:
        if not isinstance(row, Mapping):
            report_corrupt(CorruptRowError(path, line_no, "expected a JSON object"), on_corrupt)
            continue
        if row.get("category") not in DOMAINS:
            unknown += 1
            continue
        key = _row_key(row, line_no)
        if key in seen:
            raise BenchError(f"{path}:{line_no}: id {key!r} appears twice; pair ids must be unique")
        try:
            pairs.append(pair_from_row(row, key, base))
        except ValueError as exc:
            report_corrupt(CorruptRowError(path, line_no, str(exc)), on_corrupt)
            continue
        seen.add(key)
    if unknown:
        warnings.warn(f"{path}: skipped {unknown} rows whose category is not one of {DOMAINS}", stacklevel=2)
    if not pairs:
        raise BenchError(f"{path}: no usable pairs")
    return pairs


def read_json(path: Path, expected: type[list] | type[dict] = list) -> Any:
    """One JSON document of the ``expected`` kind (a list of rows, or an object), else a ``BenchError`` saying why."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BenchError(f"{path}: not valid JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, expected):
        kind = "list of rows" if expected is list else "object"
        raise BenchError(f"{path}: expected a JSON {kind}, got {type(data).__name__}")
    return data


@dataclass(frozen=True)
class Prediction:
    """A judge's errors for one pair, as the metrics see them."""

    errors: tuple[Mapping[str, Any], ...]
    parsed: bool = True
    reason: str | None = None
    dropped: int = 0

    @property
    def severity(self) -> float:
        return sum(severity_value(e) for e in self.errors)


def read_prediction(pred_json: Any, domain: str) -> Prediction:
    """A row's ``pred_json`` → ``Prediction``. ``None``/missing and non-critiques predict no errors (parse failure).

    A string is taken as the judge's raw answer and read with ``parse_critique`` (fences, chatter, think blocks).
    """
    if pred_json is None:
        return Prediction((), parsed=False, reason="no critique (pred_json is null)")
    if isinstance(pred_json, str):
        try:
            pred_json = parse_critique(pred_json, domain).to_official()
        except CritiqueParseError as exc:
            return Prediction((), parsed=False, reason=exc.reason)
    if not isinstance(pred_json, Mapping):
        return Prediction((), parsed=False, reason=f"pred_json: expected an object, got {type(pred_json).__name__}")
    raw = pred_json.get("errors")
    if raw is not None and not isinstance(raw, list):
        return Prediction((), parsed=False, reason=f"pred_json.errors: expected a list, got {type(raw).__name__}")
    errors, dropped = _kept_errors(raw, domain, "type_or_category")
    return Prediction(tuple(errors), dropped=dropped)


def rows_by_pair(pairs: Sequence[BenchPair], rows: Sequence[Any], what: str = "prediction") -> dict[str, Mapping]:
    """Each bench pair's row of a results file, found by ``id``, else by the two image paths (the public judge script
    copies bench rows, which may have no id). A bench pair without a row is an error: silently counting it as "no
    errors" would distort every metric."""
    by_id: dict[str, Mapping[str, Any]] = {}
    by_paths: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        if row.get("id") not in (None, ""):
            by_id[str(row["id"])] = row
        paths = (row.get("gt_img_path"), row.get("pred_img_path"))
        if all(isinstance(p, str) for p in paths):
            by_paths[paths] = row
    found: dict[str, Mapping[str, Any]] = {}
    missing = []
    for pair in pairs:
        row = by_id.get(pair.key)
        if row is None:
            row = by_paths.get((pair.row.get("gt_img_path"), pair.row.get("pred_img_path")))
        if row is None:
            missing.append(pair.key)
        else:
            found[pair.key] = row
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise BenchError(
            f"{len(missing)} of {len(pairs)} bench pairs have no {what} row (by id or image paths): {shown}"
        )
    return found


def predictions_for(pairs: Sequence[BenchPair], rows: Sequence[Any]) -> dict[str, Prediction]:
    """Each bench pair's ``Prediction`` from the rows of a predictions file (a row without ``pred_json`` predicts
    nothing, as in the public evaluator)."""
    found = rows_by_pair(pairs, rows)
    return {
        pair.key: read_prediction(found[pair.key]["pred_json"], pair.domain)
        if "pred_json" in found[pair.key]
        else Prediction((), parsed=False, reason="row has no pred_json")
        for pair in pairs
    }


def load_predictions(path: str | Path, pairs: Sequence[BenchPair]) -> dict[str, Prediction]:
    """Read the public evaluator's input (a JSON list of bench rows with ``pred_json``) for ``pairs``."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"predictions file {path} does not exist")
    return predictions_for(pairs, read_json(path))


@dataclass(frozen=True)
class Counts:
    """Summable match counts; soft TP counts a partial match as 0.5."""

    tp_hard: int = 0
    tp_soft: float = 0.0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.tp_hard + other.tp_hard, self.tp_soft + other.tp_soft, self.fp + other.fp, self.fn + other.fn
        )

    def metrics(self) -> dict[str, float]:
        """P, R and F1, hard and soft, with the public evaluator's conventions (see the module docstring)."""
        p_hard, r_hard = _ratio(self.tp_hard, self.tp_hard + self.fp), _ratio(self.tp_hard, self.tp_hard + self.fn)
        p_soft, r_soft = _ratio(self.tp_soft, self.tp_soft + self.fp), _ratio(self.tp_soft, self.tp_soft + self.fn)
        nothing = self.tp_hard == 0 and self.fp == 0 and self.fn == 0
        return {
            "f1_hard": 1.0 if nothing else _ratio(2 * p_hard * r_hard, p_hard + r_hard),
            "f1_soft": _ratio(2 * p_soft * r_soft, p_soft + r_soft),
            "precision_hard": p_hard,
            "recall_hard": r_hard,
            "precision_soft": p_soft,
            "recall_soft": r_soft,
            "tp_hard": self.tp_hard,
            "tp_soft": self.tp_soft,
            "fp": self.fp,
            "fn": self.fn,
        }


def _ratio(a: float, b: float) -> float:
    return a / b if b != 0 else 0.0


@dataclass(frozen=True)
class PairScore:
    """One pair's counts, per type and in total, and its severity sums (per type and ``total``)."""

    key: str
    domain: str
    counts: Counts
    by_type: dict[str, Counts]
    severity_pred: dict[str, float]
    severity_ref: dict[str, float]
    matches: tuple[ErrorMatch, ...] = ()
    parsed: bool = True
    reference_image: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.key,
            "domain": self.domain,
            "parsed": self.parsed,
            **self.counts.metrics(),
            "severity_pred": self.severity_pred[TOTAL],
            "severity_ref": self.severity_ref[TOTAL],
            "matches": [[m.pred_id, m.ref_id, m.level] for m in self.matches],
        }


def _severity_by_type(errors: Sequence[Mapping[str, Any]], types: Sequence[str]) -> dict[str, float]:
    sums = dict.fromkeys(types, 0.0)
    for err in errors:
        name = error_type(err)
        if name in sums:
            sums[name] += severity_value(err)
    sums[TOTAL] = sum(sums[t] for t in types)
    return sums


def score_pair(pair: BenchPair, prediction: Prediction, matching: Sequence[ErrorMatch] | PairMatching) -> PairScore:
    """Counts of one pair from its one-to-one matches (indices into ``prediction.errors``/``pair.reference_errors``),
    and from the unmatched errors a ``PairMatching`` states, when it states them."""
    types = ERROR_TYPES[pair.domain]
    pred, ref = prediction.errors, pair.reference_errors
    matches = matching.matches if isinstance(matching, PairMatching) else tuple(matching)
    matched_pred = {m.pred_id for m in matches}
    matched_ref = {m.ref_id for m in matches}
    if len(matched_pred) != len(matches) or len(matched_ref) != len(matches):
        raise ValueError("matches: an error is matched twice; matching must be one to one")
    if any(not (0 <= m.pred_id < len(pred) and 0 <= m.ref_id < len(ref)) for m in matches):
        raise ValueError("matches: an index is out of range")
    stated = matching if isinstance(matching, PairMatching) else PairMatching(matches)
    unmatched_pred = stated.unmatched_pred
    if unmatched_pred is None:
        unmatched_pred = tuple(i for i in range(len(pred)) if i not in matched_pred)
    unmatched_ref = stated.unmatched_ref
    if unmatched_ref is None:
        unmatched_ref = tuple(j for j in range(len(ref)) if j not in matched_ref)
    if any(not -len(pred) <= i < len(pred) for i in unmatched_pred) or any(
        not -len(ref) <= j < len(ref) for j in unmatched_ref
    ):
        raise ValueError("unmatched: an index is out of range")
    by_type: dict[str, Counts] = {}
    for t in types:
        hits = [m for m in matches if error_type(pred[m.pred_id]) == t]
        by_type[t] = Counts(
            tp_hard=sum(m.level == "yes" for m in hits),
            tp_soft=sum(LEVEL_CREDIT[m.level] for m in hits),
            fp=sum(1 for i in unmatched_pred if error_type(pred[i]) == t),
            fn=sum(1 for j in unmatched_ref if error_type(ref[j]) == t),
        )
    counts = Counts(
        tp_hard=sum(m.level == "yes" for m in matches),
        tp_soft=sum(LEVEL_CREDIT[m.level] for m in matches),
        fp=len(unmatched_pred),
        fn=len(unmatched_ref),
    )
    return PairScore(
        key=pair.key,
        domain=pair.domain,
        counts=counts,
        by_type=by_type,
        severity_pred=_severity_by_type(pred, types),
        severity_ref=_severity_by_type(ref, types),
        matches=tuple(matches),
        parsed=prediction.parsed,
        reference_image=str(pair.reference_image),
    )


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r; ``None`` when undefined (fewer than two points or a constant side)."""
    if len(xs) != len(ys):
        raise ValueError(f"pearson: {len(xs)} x values for {len(ys)} y values")
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    vx = sum((x - mx) ** 2 for x in xs)
    vy = sum((y - my) ** 2 for y in ys)
    if vx == 0 or vy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / math.sqrt(vx * vy)


def ordering_accuracy(
    items: Sequence[tuple[str, float, float]],
) -> float | None:
    """Share of pairs ``(a, b)`` in the same group with different reference severity that the score orders right.

    ``items`` are ``(group, score, reference_severity)``; a higher score must go with the lower severity; a tied
    score counts half. ``None`` when no group holds two candidates of different severity.
    """
    groups: dict[str, list[tuple[float, float]]] = {}
    for group, score, severity in items:
        groups.setdefault(group, []).append((score, severity))
    right = 0.0
    total = 0
    for members in groups.values():
        for i, (score_a, sev_a) in enumerate(members):
            for score_b, sev_b in members[i + 1 :]:
                if sev_a == sev_b:
                    continue
                total += 1
                if score_a == score_b:
                    right += 0.5
                elif (score_a > score_b) == (sev_a < sev_b):
                    right += 1
    return right / total if total else None


def _ordering(items: Sequence[tuple[str, str, float, float]]) -> dict[str, float | None]:
    """Ordering accuracy among candidates of one reference image and among all candidates of one domain."""
    return {
        "ordering_same_reference": ordering_accuracy([(f"{d}|{ref}", s, sev) for d, ref, s, sev in items]),
        "ordering_within_domain": ordering_accuracy([(d, s, sev) for d, _, s, sev in items]),
    }


def _scope_summary(scores: Sequence[PairScore], types: Sequence[str], per_type_pearson: bool) -> dict[str, Any]:
    total = sum((s.counts for s in scores), Counts())
    out: dict[str, Any] = {"pairs": len(scores), **total.metrics()}
    if not scores:
        out.update({k: None for k in ("f1_hard", "f1_soft", "precision_hard", "recall_hard")})
        out.update({k: None for k in ("precision_soft", "recall_soft")})
    out["severity_pearson"] = pearson([s.severity_pred[TOTAL] for s in scores], [s.severity_ref[TOTAL] for s in scores])
    out.update(
        _ordering([(s.domain, s.reference_image, -s.severity_pred[TOTAL], s.severity_ref[TOTAL]) for s in scores])
    )
    out["parse_failures"] = sum(not s.parsed for s in scores)
    # Sc pools every pair, so a judge that invents errors where the candidate is right loses Sc on exactly those
    # pairs; this share says how often that happens, which F1 (pooled counts) hides.
    clean = [s for s in scores if not s.matches and s.counts.fn == 0]
    out["clean_pairs"] = len(clean)
    out["false_alarm_rate"] = sum(s.counts.fp > 0 for s in clean) / len(clean) if clean else None
    by_type: dict[str, Any] = {}
    for t in types:
        relevant = [s for s in scores if t in s.by_type]
        if not relevant:
            continue
        entry: dict[str, Any] = sum((s.by_type[t] for s in relevant), Counts()).metrics()
        if per_type_pearson:
            entry["severity_pearson"] = pearson(
                [s.severity_pred.get(t, 0.0) for s in relevant], [s.severity_ref.get(t, 0.0) for s in relevant]
            )
        by_type[t] = entry
    out["by_type"] = by_type
    return out


def summarize(scores: Sequence[PairScore], match_failures: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Pooled (``overall``) and per-domain metrics of scored pairs, as the public evaluator aggregates them."""
    all_types = sorted({t for types in ERROR_TYPES.values() for t in types})
    summary: dict[str, Any] = {"overall": _scope_summary(scores, all_types, per_type_pearson=False)}
    for domain in DOMAINS:
        summary[domain] = _scope_summary(
            [s for s in scores if s.domain == domain], ERROR_TYPES[domain], per_type_pearson=True
        )
    failures = dict(match_failures or {})
    for domain in DOMAINS:
        summary[domain]["match_failures"] = failures.get(domain, 0)
    summary["overall"]["match_failures"] = sum(failures.get(d, 0) for d in DOMAINS)
    return summary


@dataclass
class BenchResult:
    """Everything a report needs: the summary dict and the per-pair scores behind it."""

    summary: dict[str, Any]
    pair_scores: list[PairScore]


def score_critiques(
    pairs: Sequence[BenchPair],
    predictions: Mapping[str, Prediction],
    matcher: ErrorMatcher | None = None,
    batch_size: int = 64,
) -> BenchResult:
    """Match every pair's predicted errors to its reference errors and aggregate (F1h, F1s, Sc, ordering)."""
    matcher = matcher or DeterministicMatcher()
    scores: list[PairScore] = []
    failures: dict[str, int] = {}
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        tasks = [MatchTask(p.domain, predictions[p.key].errors, p.reference_errors) for p in chunk]
        results = matcher.match(tasks)
        if len(results) != len(chunk):
            raise BenchError(f"matcher returned {len(results)} results for {len(chunk)} pairs")
        for pair, matches in zip(chunk, results, strict=True):
            if matches is None:
                failures[pair.domain] = failures.get(pair.domain, 0) + 1
                continue
            scores.append(score_pair(pair, predictions[pair.key], matches))
    summary = summarize(scores, failures)
    dropped_ref = {d: sum(p.reference_errors_dropped for p in pairs if p.domain == d) for d in DOMAINS}
    dropped_pred = {d: sum(predictions[p.key].dropped for p in pairs if p.domain == d) for d in DOMAINS}
    for domain in DOMAINS:
        summary[domain]["reference_errors_dropped"] = dropped_ref[domain]
        summary[domain]["predicted_errors_dropped"] = dropped_pred[domain]
    summary["overall"]["reference_errors_dropped"] = sum(dropped_ref.values())
    summary["overall"]["predicted_errors_dropped"] = sum(dropped_pred.values())
    return BenchResult(summary, scores)


def score_scalar(pairs: Sequence[BenchPair], rewards: Mapping[str, float]) -> dict[str, Any]:
    """Sc (negated reward vs reference severity) and ordering accuracy of a scalar reward, per domain and pooled.

    F1 is undefined for a judge that names no errors, so ``f1_hard``/``f1_soft`` are ``None``.
    """
    missing = [p.key for p in pairs if p.key not in rewards]
    if missing:
        raise BenchError(f"{len(missing)} bench pairs have no reward: {', '.join(missing[:5])}")
    bad = [p.key for p in pairs if not isinstance(rewards[p.key], int | float) or not math.isfinite(rewards[p.key])]
    if bad:
        raise BenchError(f"rewards must be finite numbers; not so for {', '.join(bad[:5])}")

    def scope(members: Sequence[BenchPair]) -> dict[str, Any]:
        values = [float(rewards[p.key]) for p in members]
        return {
            "pairs": len(members),
            "f1_hard": None,
            "f1_soft": None,
            "severity_pearson": pearson([-v for v in values], [p.reference_severity for p in members]),
            **_ordering(
                [
                    (p.domain, str(p.reference_image), v, p.reference_severity)
                    for p, v in zip(members, values, strict=True)
                ]
            ),
            "reward_mean": sum(values) / len(values) if values else None,
        }

    summary = {"overall": scope(pairs)}
    for domain in DOMAINS:
        summary[domain] = scope([p for p in pairs if p.domain == domain])
    return summary
