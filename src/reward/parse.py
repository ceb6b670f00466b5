"""Read a critic's answer into a ``Critique``, however the model dressed it up — and never crash on it.

Accepted: the official Visual-ERM JSON of each domain; wrapped in a markdown fence or in chatty text; after a
``<think>…</think>`` block (or an unterminated ``<think>``); trailing commas; Python-style single quotes and
``True``/``None`` (read by ``ast.literal_eval``, which evaluates literals only, never code); ``*_error_count`` fields
that disagree with the list (the list wins, see ``src.data.schema``); categories with or without ``_error``.

Policy for questionable content:
- Several JSON objects in the text: the one that **starts last** and is a critique wins, wherever it is (fenced or
  bare) — drafts and echoed examples come before the final answer.
- A numeric severity outside 1..3 is clamped (0 → 1: a listed error is an error; 5, 1e999 or ``Infinity`` → 3) and
  rounded; the words minor/medium/moderate/major/severe/low/high/critical map to 1..3.
- **Lenient (default), like the released reward code**: an error item that does not fit the schema — a category the
  domain lacks (the released SVG prompt once had ``other_error``), no category, a missing or unreadable severity, not
  an object — is left out of ``errors`` and recorded in ``Critique.skipped`` with its reason and (when readable) its
  severity. The reward layer decides what a skipped item costs; one odd item does not throw the whole critique away.
- **Strict** (``strict=True``): any such item rejects the whole critique (for measuring schema adherence).
- No ``errors`` list but counts that are all zero: an empty critique; counts above zero without a list: rejected, in
  both modes (the answer says there are errors and names none).

The released judge's own reward code reads answers differently (stricter in some ways, looser in others), and a
faithful released-model run must score exactly as it does: ``released_chart_svg_severity`` and
``released_table_severity`` below give the severity sum those readers arrive at, or ``None`` where they fail. They
are selected by a critic profile's ``AnswerProtocol``, never by default.

Every rejection raises ``CritiqueParseError`` with a reason — whatever the text (random bytes, 5,000-digit numbers,
``Infinity``, nesting thousands deep) — and the work is bounded: texts longer than ``MAX_ANSWER_CHARS`` after the
thinking block are rejected before any JSON is read, and every scan is linear in the text's length (no regular
expression that backtracks over the whole text per match attempt).
"""

from __future__ import annotations

import ast
import io
import json
import math
import re
import tokenize
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from src.data.schema import Critique, Discrepancy, SchemaError, SkippedItem, discrepancy_from_official
from src.render.job import DOMAINS

# A judge answers in at most a few thousand tokens (the released reward asks for 4,096; its table reward 8,192, about
# 40k characters). 200k characters leaves room for chatty models and keeps a hostile answer's cost below ~1 s.
MAX_ANSWER_CHARS = 200_000
_FENCE_MARK = "```"
_FENCE_INFO = re.compile(r"[A-Za-z0-9_+-]*[ \t]*")  # the language tag after an opening fence, as in ```json
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_SEVERITY_WORDS = {"minor": 1, "low": 1, "medium": 2, "moderate": 2, "major": 3, "severe": 3, "high": 3, "critical": 3}
_PY_LITERALS = {"true": "True", "false": "False", "null": "None"}
_MAX_SPANS_READ = 32  # a real answer holds one to three objects; drafts and examples come before it
_MAX_LITERAL_DEPTH = 100  # CPython's parser stops at 200 nested brackets; a critique nests 3 deep
_MAX_INT_DIGITS = 30  # longer integers are read as floats: a severity that large clamps to 3 all the same


class CritiqueParseError(ValueError):
    """No valid critique in the text; ``reason`` says why (for logs and the parse-rate metric)."""

    def __init__(self, reason: str, text: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.text = text


def parse_critique(text: str, domain: str, strict: bool = False) -> Critique:
    """The critique in a critic's ``text`` for ``domain`` (chart / table / svg); raises ``CritiqueParseError``.

    Args:
        text: the critic's whole answer.
        domain: which schema the answer follows; an unknown domain is the caller's bug (``ValueError``).
        strict: reject the whole critique for any item that does not fit the schema, instead of skipping it.
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain: {domain!r} is not one of {DOMAINS}")
    if not isinstance(text, str):
        raise CritiqueParseError(f"expected the critic's text as str, got {type(text).__name__}")
    body = _strip_thinking(text)
    if not body.strip():
        raise CritiqueParseError("empty answer", text)
    if len(body) > MAX_ANSWER_CHARS:
        raise CritiqueParseError(f"answer of {len(body)} characters is longer than {MAX_ANSWER_CHARS}", text)

    spans = _candidate_objects(body)
    # The final answer wins: try the latest-starting spans first. Only a span naming 'errors' or '*_error_count' can be
    # a critique, and only the last few are read, so hostile text full of braces costs one scan, not a parse per brace.
    keyed = [
        s for s in spans if body.find("errors", s.start, s.end) >= 0 or body.find("_error_count", s.start, s.end) >= 0
    ]
    keyed = keyed[-_MAX_SPANS_READ:]
    seen_object = False
    for span in reversed(keyed):
        obj = _load_json_object(body[span.start : span.end], span.depth)
        if not isinstance(obj, dict):
            continue
        seen_object = True
        if not _looks_like_critique(obj):
            continue
        try:
            return _to_critique(obj, domain, strict)
        except SchemaError as exc:
            raise CritiqueParseError(f"invalid critique: {exc}", text) from None
        except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:  # belt and braces
            raise CritiqueParseError(f"invalid critique: {type(exc).__name__}: {_short(exc)}", text) from None
    if not seen_object and spans and not keyed:  # say whether the answer held any JSON at all (read one span)
        last = spans[-1]
        seen_object = isinstance(_load_json_object(body[last.start : last.end], last.depth), dict)
    reason = "JSON found, but no 'errors' list or '*_error_count'" if seen_object else "no JSON object found"
    raise CritiqueParseError(reason, text)


def _strip_thinking(text: str) -> str:
    """The text without ``<think>…</think>`` blocks; one linear pass (a lazy regex rescans per unclosed tag)."""
    kept: list[str] = []
    pos = 0
    while (opening := _THINK_OPEN.search(text, pos)) is not None:
        closing = _THINK_CLOSE.search(text, opening.end())
        if closing is None:  # never closed: the model ran out of tokens while thinking, or left a stray tag
            before = "".join(kept) + text[pos : opening.start()]
            return _after_last_close(before if before.strip() else text[opening.end() :])
        kept.append(text[pos : opening.start()])
        pos = closing.end()
    kept.append(text[pos:])
    return _after_last_close("".join(kept))


def _after_last_close(body: str) -> str:
    """What follows a stray ``</think>`` (chat templates often pre-fill the opening tag, so only the close is seen)."""
    end = 0
    for match in _THINK_CLOSE.finditer(body):
        end = match.end()
    return body[end:]


class _Span(NamedTuple):
    """Where an object candidate sits in the answer; a plain tuple, as a hostile answer can hold 100k of them."""

    start: int
    end: int
    depth: int  # deepest bracket nesting inside


def _candidate_objects(body: str) -> list[_Span]:
    """Each outermost brace-balanced span, inside fences and in the whole text, ordered by where it starts."""
    found: dict[tuple[int, int], int] = {}
    for offset, source in [*_fenced_blocks(body), (0, body)]:
        for start, end, depth in _balanced_objects(source):
            found.setdefault((offset + start, offset + end), depth)
    return [_Span(start, end, depth) for (start, end), depth in sorted(found.items())]


def _fenced_blocks(body: str) -> Iterator[tuple[int, str]]:
    """(offset, content) of each ```-fenced block; the info string after the opening fence is not content."""
    pos = 0
    while True:
        open_at = body.find(_FENCE_MARK, pos)
        if open_at < 0:
            return
        close_at = body.find(_FENCE_MARK, open_at + len(_FENCE_MARK))
        if close_at < 0:
            return
        content_at = open_at + len(_FENCE_MARK)
        newline = body.find("\n", content_at, close_at)
        if newline >= 0 and _FENCE_INFO.fullmatch(body, content_at, newline):
            content_at = newline + 1
        yield content_at, body[content_at:close_at]
        pos = close_at + len(_FENCE_MARK)


def _balanced_objects(source: str) -> Iterator[tuple[int, int, int]]:
    """(start, end, nesting) of each outermost brace-balanced span, skipping braces inside '...' and "..." strings.

    ``nesting`` is the deepest count of open brackets of any kind ({, [, ( ) inside the span.
    """
    depth, nest, deepest, start, quote, escaped = 0, 0, 0, -1, "", False
    for i, ch in enumerate(source):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif depth == 0:
            if ch == "{":
                start, depth, nest, deepest = i, 1, 1, 1
        elif ch in "\"'":
            quote = ch
        elif ch in "[(":
            nest += 1
            deepest = max(deepest, nest)
        elif ch in "])":
            nest = max(nest - 1, 1)
        elif ch == "{":
            depth, nest = depth + 1, nest + 1
            deepest = max(deepest, nest)
        elif ch == "}":
            depth, nest = depth - 1, max(nest - 1, 0)
            if depth == 0:
                yield start, i + 1, deepest


def _parse_int(digits: str) -> int | float:
    # Python refuses int() of over 4,300 digits (ValueError); a number that long is only ever noise.
    return int(digits) if len(digits) <= _MAX_INT_DIGITS else float(digits)


def _load_json_object(text: str, depth: int) -> Any:
    for candidate in (text, _TRAILING_COMMA.sub(r"\1", text)):
        try:  # strict=False: raw newlines and tabs inside strings, as models write long descriptions
            return json.loads(candidate, parse_int=_parse_int, strict=False)
        except (ValueError, RecursionError, MemoryError):  # JSONDecodeError is a ValueError
            pass
    if depth > _MAX_LITERAL_DEPTH:  # Python's parser refuses such nesting anyway; skip the costly tokenize
        return None
    return _load_python_literal(text)


def _load_python_literal(span: str) -> Any:
    """Single-quoted JSON as Python literals; true/false/null renamed outside strings only."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(span).readline))
        renamed = [
            tok._replace(string=_PY_LITERALS[tok.string])
            if tok.type == tokenize.NAME and tok.string in _PY_LITERALS
            else tok
            for tok in tokens
        ]
        return ast.literal_eval(tokenize.untokenize(renamed))
    except (tokenize.TokenError, SyntaxError, ValueError, TypeError, MemoryError, RecursionError, OverflowError):
        return None


def _looks_like_critique(obj: Mapping[Any, Any]) -> bool:
    return "errors" in obj or any(isinstance(k, str) and k.endswith("_error_count") for k in obj)


def _to_critique(obj: Mapping[Any, Any], domain: str, strict: bool) -> Critique:
    errors = obj.get("errors")
    if errors is None:
        counts = {k: v for k, v in obj.items() if isinstance(k, str) and k.endswith("_error_count")}
        if any(not isinstance(v, int | float) or v != 0 for v in counts.values()):
            raise SchemaError(f"errors: missing, but counts say there are errors ({_short(counts)})")
        return Critique(domain=domain, errors=())
    if not isinstance(errors, list):
        raise SchemaError(f"errors: expected a list, got {type(errors).__name__}")
    kept: list[Discrepancy] = []
    skipped: list[SkippedItem] = []
    for i, item in enumerate(errors):
        severity: int | None = None
        try:
            if not isinstance(item, Mapping):
                raise SchemaError(f"errors[{i}]: expected an object, got {type(item).__name__}")
            severity = _normalize_severity(item.get("severity"), i)
            kept.append(discrepancy_from_official({**item, "severity": severity}, domain, i))
        except SchemaError as exc:
            if strict:
                raise
            skipped.append(SkippedItem(index=i, reason=_short(exc), severity=severity))
    return Critique(domain=domain, errors=tuple(kept), skipped=tuple(skipped))


def _normalize_severity(raw: Any, index: int) -> int:
    value: float | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):  # compared as an int: float() of a 400-digit int overflows
        return 3 if raw > 3 else 1 if raw < 1 else raw
    elif isinstance(raw, float):
        value = raw
    elif isinstance(raw, str) and len(raw) <= 64:
        word = raw.strip().lower()
        if word in _SEVERITY_WORDS:
            return _SEVERITY_WORDS[word]
        try:
            value = float(word)
        except ValueError:
            value = None
    if value is None or math.isnan(value):  # missing, unreadable or NaN
        raise SchemaError(f"errors[{index}].severity: {_short(raw)} is not a severity (1, 2 or 3)")
    return int(round(min(3.0, max(1.0, value))))  # clamp first: round(inf) overflows


def _short(value: Any, limit: int = 120) -> str:
    """A log-sized repr (a hostile answer must not put megabytes into an exception message)."""
    try:
        text = str(value) if isinstance(value, BaseException) else repr(value)
    except (ValueError, RecursionError):
        text = f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- The released judge's readers ---------------------------------------------------------------------------------
# Written from how the public reward code behaves (``rl_scripts/reward_func``), so that a profile built from it scores
# every answer as it would, including answers our own parser reads differently. They return the severity sum S, or
# None where the public code gives up on the answer (which re-asks, or takes the fallback).

_RELEASED_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)  # case-sensitive and closed blocks only, as released
_RELEASED_FENCE_OPEN = re.compile(r"^```[a-zA-Z0-9_+-]*\s*\n?")
_RELEASED_FENCE_CLOSE = re.compile(r"\n?\s*```$")
_RELEASED_TABLE_FENCE_OPEN = re.compile(r"^```[a-zA-Z0-9_+-]*\s*")
_RELEASED_TABLE_FENCE_CLOSE = re.compile(r"\s*```$")
_RELEASED_TABLE_SPAN = re.compile(r"\{.*\}", re.DOTALL)  # greedy: the first "{" to the last "}"


def released_chart_svg_severity(text: str | None) -> float | None:
    """S as the released chart/SVG reward reads ``text``; ``None`` when it cannot (the caller asks again).

    - closed ``<think>`` blocks removed, then one leading code fence (and a trailing one) when the text starts with one;
    - ``json.loads`` of the rest, else of the *first* brace-balanced span, its braces counted without regard to
      quotes (so a ``}`` inside a string ends the span early and the answer fails);
    - S = the sum of ``float(severity)`` over the items of ``errors`` (a missing ``errors`` key is S = 0; an item
      that is not an object, has no severity or a non-numeric one is skipped; a negative one counts 0); an
      ``errors`` that is not a list, or a severity beyond float range, fails the answer.
    """
    if not text:
        return None
    raw = _RELEASED_THINK.sub("", text.strip()).strip()
    if raw.startswith("```"):
        raw = _RELEASED_FENCE_OPEN.sub("", raw, count=1)
        raw = _RELEASED_FENCE_CLOSE.sub("", raw).strip()
    obj = _released_json(raw)
    if not isinstance(obj, dict):
        span = _first_brace_span(raw)
        obj = _released_json(span) if span is not None else None
    if not isinstance(obj, dict):
        return None
    errors = obj.get("errors", [])
    if not isinstance(errors, list):
        return None
    total = 0.0
    for item in errors:
        if not isinstance(item, dict) or item.get("severity") is None:
            continue
        try:
            value = float(item["severity"])
        except (ValueError, TypeError):
            continue
        except OverflowError:  # an integer beyond float range ends the whole reading in the released code
            return None
        total += 0.0 if value < 0 else value
    return total


def released_table_severity(text: str | None) -> float | None:
    """S as the released table reward reads ``text``; ``None`` when it cannot (it then scores the failure value).

    - a leading code fence (and a trailing one) removed when the text starts with one; no ``<think>`` handling;
    - ``json.loads`` of the rest whatever it yields, else of the greedy span from the first ``{`` to the last ``}``;
    - anything falsy (``{}``, ``[]``, ``0``) fails; so does an object without ``errors``, any other kind of value,
      an item that is not an object, or a severity that cannot be added to a number (a string, ``null``);
    - S = the plain sum of the items' ``severity`` (default 0), negative values and booleans included.
    """
    if text is None:
        return None
    raw = str(text).strip()
    if raw.startswith("```"):
        raw = _RELEASED_TABLE_FENCE_OPEN.sub("", raw)
        raw = _RELEASED_TABLE_FENCE_CLOSE.sub("", raw).strip()
    obj = _released_json(raw, _UNREAD)
    if obj is _UNREAD:
        match = _RELEASED_TABLE_SPAN.search(raw)
        obj = _released_json(match.group(0)) if match is not None else None
    if not obj:
        return None
    try:
        total: Any = 0
        for item in obj["errors"]:
            total += item.get("severity", 0)
    except Exception:  # noqa: BLE001  any failure of the released arithmetic fails the answer there too
        return None
    try:
        return float(total)
    except (TypeError, ValueError, OverflowError):  # e.g. a 400-digit integer: no reward can be made of it
        return None


_UNREAD = object()


def _released_json(text: str, failed: Any = None) -> Any:
    """``json.loads`` with Python's defaults (``NaN``/``Infinity`` accepted, control characters in strings refused)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return failed


def _first_brace_span(text: str) -> str | None:
    start = text.find("{")
    if start < 0:
        return None
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None
