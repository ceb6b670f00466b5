"""Read a critic's answer into a ``Critique``, however the model dressed it up.

Accepted: the official Visual-ERM JSON of each domain; wrapped in a markdown fence or in chatty text; after a
``<think>…</think>`` block (or an unterminated ``<think>``); trailing commas; Python-style single quotes and
``True``/``None`` (read by ``ast.literal_eval``, which evaluates literals only, never code); ``*_error_count`` fields
that disagree with the list (the list wins, see ``src.data.schema``); categories with or without ``_error``.

Policy for questionable content, chosen so the reward cannot be gamed by malformed output:
- Several JSON objects in the text: the **last** one that is a critique wins — drafts and echoed examples come
  before the final answer.
- A numeric severity outside 1..3 is rounded and clamped (0 → 1: a listed error is an error; 5 → 3); the words
  minor/medium/moderate/major/severe/low/high map to 1..3. Anything else (missing, ``"n/a"``) rejects the whole
  critique: dropping that one error would *lower* S and so raise the reward for a malformed answer.
- An unknown category rejects the whole critique (the parse rate exposes a judge that drifts from the schema).
- No ``errors`` list but counts that are all zero: an empty critique; counts above zero without a list: rejected.
Every rejection raises ``CritiqueParseError`` with a reason; the reward layer decides what a failure is worth.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from collections.abc import Iterator, Mapping
from typing import Any

from src.data.schema import Critique, SchemaError
from src.render.job import DOMAINS

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_SEVERITY_WORDS = {"minor": 1, "low": 1, "medium": 2, "moderate": 2, "major": 3, "severe": 3, "high": 3, "critical": 3}
_PY_LITERALS = {"true": "True", "false": "False", "null": "None"}


class CritiqueParseError(ValueError):
    """No valid critique in the text; ``reason`` says why (for logs and the parse-rate metric)."""

    def __init__(self, reason: str, text: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.text = text


def parse_critique(text: str, domain: str) -> Critique:
    """The critique in a critic's ``text`` for ``domain`` (chart / table / svg); raises ``CritiqueParseError``."""
    if domain not in DOMAINS:
        raise ValueError(f"domain: {domain!r} is not one of {DOMAINS}")
    if not isinstance(text, str):
        raise CritiqueParseError(f"expected the critic's text as str, got {type(text).__name__}")
    body = _strip_thinking(text)
    if not body.strip():
        raise CritiqueParseError("empty answer", text)

    objects = [obj for obj in map(_load_json_object, _candidate_objects(body)) if isinstance(obj, dict)]
    critiques = [obj for obj in objects if _looks_like_critique(obj)]
    if not critiques:
        reason = "no JSON object found" if not objects else "JSON found, but no 'errors' list or '*_error_count'"
        raise CritiqueParseError(reason, text)
    try:
        return _to_critique(critiques[-1], domain)
    except SchemaError as exc:
        raise CritiqueParseError(f"invalid critique: {exc}", text) from None


def _strip_thinking(text: str) -> str:
    body = _THINK_BLOCK.sub("", text)
    if "</think>" in body:  # opening tag lost (chat templates often pre-fill it): keep what follows the close
        body = body.rsplit("</think>", 1)[1]
    if "<think>" in body:  # never closed: the model ran out of tokens while thinking, or left a stray tag
        before, after = body.split("<think>", 1)
        body = before if before.strip() else after
    return body


def _candidate_objects(body: str) -> Iterator[str]:
    """Each balanced ``{...}`` span, in text order, first inside fences, then in the whole text."""
    seen: set[str] = set()
    for source in [m.group(1) for m in _FENCE.finditer(body)] + [body]:
        for span in _balanced_objects(source):
            if span not in seen:
                seen.add(span)
                yield span


def _balanced_objects(source: str) -> Iterator[str]:
    """Outermost brace-balanced spans, skipping braces inside '...' and "..." strings."""
    depth, start, quote, escaped = 0, -1, "", False
    for i, ch in enumerate(source):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'" and depth > 0:
            quote = ch
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                yield source[start : i + 1]


def _load_json_object(span: str) -> Any:
    try:
        return json.loads(span)
    except json.JSONDecodeError:
        pass
    without_trailing = _TRAILING_COMMA.sub(r"\1", span)
    try:
        return json.loads(without_trailing)
    except json.JSONDecodeError:
        pass
    return _load_python_literal(span)


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
    except (tokenize.TokenError, SyntaxError, ValueError, TypeError, MemoryError, RecursionError, IndentationError):
        return None


def _looks_like_critique(obj: Mapping[str, Any]) -> bool:
    return "errors" in obj or any(isinstance(k, str) and k.endswith("_error_count") for k in obj)


def _to_critique(obj: Mapping[str, Any], domain: str) -> Critique:
    errors = obj.get("errors")
    if errors is None:
        counts = {k: v for k, v in obj.items() if isinstance(k, str) and k.endswith("_error_count")}
        if any(not isinstance(v, int | float) or v != 0 for v in counts.values()):
            raise SchemaError(f"errors: missing, but counts say there are errors ({counts})")
        return Critique(domain=domain, errors=())
    if not isinstance(errors, list):
        raise SchemaError(f"errors: expected a list, got {type(errors).__name__}")
    cleaned = []
    for i, err in enumerate(errors):
        if isinstance(err, Mapping):
            err = {**err, "severity": _normalize_severity(err.get("severity"), i)}
        cleaned.append(err)
    return Critique.from_official({"errors": cleaned}, domain)  # refuses categories the domain lacks


def _normalize_severity(raw: Any, index: int) -> int:
    value: float | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        word = raw.strip().lower()
        if word in _SEVERITY_WORDS:
            return _SEVERITY_WORDS[word]
        try:
            value = float(word)
        except ValueError:
            value = None
    if value is None or value != value:  # missing, unreadable or NaN
        raise SchemaError(f"errors[{index}].severity: {raw!r} is not a severity (1, 2 or 3)")
    return int(min(3, max(1, round(value))))
