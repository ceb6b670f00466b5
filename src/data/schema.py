"""Critique schema: what differs between a reference image and a rendered candidate.

Internally a category is its short name (``"data"``); the official Visual-ERM JSON (the released model's training
prompts and VC-RewardBench) spells it with an ``_error`` suffix (``"data_error"``), under the key ``category`` for
charts and SVG and ``type`` for tables. The ``*_error_count`` fields are derived from the error list on output and
ignored on input (the list wins), so a count can never disagree with the errors it counts.

Tables also carry ``location`` in our output although the official table format has none: readers of the official
format ignore unknown keys, and the location is what makes two descriptions of one error matchable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from src.render.job import DOMAINS, Domain

Severity = Literal[1, 2, 3]

CATEGORIES: dict[str, tuple[str, ...]] = {
    "chart": ("structure", "data", "text", "style"),
    "table": ("layout", "text", "numeric"),
    "svg": ("structure", "shape", "style", "text_symbol"),
}
# Key naming the category inside each official error object.
CATEGORY_KEY: dict[str, str] = {"chart": "category", "table": "type", "svg": "category"}


class SchemaError(ValueError):
    """A critique or discrepancy that does not fit the schema; the message names the field."""


def _check_domain(domain: str) -> Domain:
    if domain not in DOMAINS:
        raise SchemaError(f"domain: {domain!r} is not one of {DOMAINS}")
    return domain  # type: ignore[return-value]


def normalize_category(raw: Any, domain: str) -> str:
    """Map ``"data_error"``, ``"Data Error"``, ``"data"`` to ``"data"``; raise for a category the domain lacks."""
    _check_domain(domain)
    if not isinstance(raw, str):
        raise SchemaError(f"category: expected a string, got {type(raw).__name__}")
    name = raw.strip().lower().replace(" ", "_").replace("-", "_").replace("/", "_")
    if name.endswith("_error"):
        name = name[: -len("_error")]
    if name == "text_and_symbol":
        name = "text_symbol"
    if name not in CATEGORIES[domain]:
        raise SchemaError(f"category: {raw!r} is not a {domain} category; expected one of {CATEGORIES[domain]}")
    return name


@dataclass(frozen=True)
class Discrepancy:
    """One visible difference, graded 1 (minor), 2 (medium) or 3 (severe: breaks alignment or misleads)."""

    category: str
    severity: int
    location: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.severity, bool) or self.severity not in (1, 2, 3):
            raise SchemaError(f"severity: {self.severity!r} is not 1, 2 or 3")
        if not isinstance(self.location, str):
            raise SchemaError(f"location: expected a string, got {type(self.location).__name__}")
        if not isinstance(self.description, str):
            raise SchemaError(f"description: expected a string, got {type(self.description).__name__}")


@dataclass(frozen=True)
class SkippedItem:
    """An error item of a critic's answer that does not fit the schema and was left out of ``Critique.errors``.

    ``severity`` is the item's severity (clamped to 1..3) when it had a readable one — an item filed under a category
    the domain lacks (the released SVG prompt once offered ``other_error``) still says how bad something is, and the
    released reward code adds it to S; ``None`` when the severity was missing or unreadable.
    """

    index: int
    reason: str
    severity: int | None = None


@dataclass(frozen=True)
class Critique:
    """All discrepancies of one (reference, candidate) pair; an empty list means visually equivalent.

    ``skipped`` holds the answer's items that a lenient parse left out (never written by ``to_official``); the
    reward layer decides what they are worth.
    """

    domain: str
    errors: tuple[Discrepancy, ...] = field(default_factory=tuple)
    skipped: tuple[SkippedItem, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _check_domain(self.domain)
        object.__setattr__(self, "errors", tuple(self.errors))
        object.__setattr__(self, "skipped", tuple(self.skipped))
        for i, err in enumerate(self.errors):
            if err.category not in CATEGORIES[self.domain]:
                raise SchemaError(
                    f"errors[{i}].category: {err.category!r} is not a {self.domain} category; "
                    f"expected one of {CATEGORIES[self.domain]}"
                )

    @property
    def severity_sum(self) -> int:
        """S in the paper's Eq. 3: the sum of severities, the quantity the reward is built from."""
        return sum(e.severity for e in self.errors)

    @property
    def skipped_items(self) -> int:
        """How many items of the critic's answer were left out as not fitting the schema."""
        return len(self.skipped)

    @property
    def skipped_severity(self) -> int:
        """The sum of the readable severities of the skipped items."""
        return sum(item.severity or 0 for item in self.skipped)

    def counts(self) -> dict[str, int]:
        counts = {c: 0 for c in CATEGORIES[self.domain]}
        for err in self.errors:
            counts[err.category] += 1
        return counts

    def to_official(self, errors_first: bool = False) -> dict[str, Any]:
        """The released model's JSON: counts first, then the error list.

        ``errors_first``: the same keys with the list before the counts. A model that writes the counts first decides
        each count before any discrepancy, and greedy decoding takes each one's most likely value, 0 for every
        category where fewer than half the pairs have that kind of error, then an empty list to agree with them.
        Written list first, its first token is the choice between "no discrepancy" and "some discrepancy".
        """
        counts = {f"{c}_error_count": n for c, n in self.counts().items()}
        key = CATEGORY_KEY[self.domain]
        errors = [
            {key: f"{e.category}_error", "severity": e.severity, "location": e.location, "description": e.description}
            for e in self.errors
        ]
        return {"errors": errors, **counts} if errors_first else {**counts, "errors": errors}

    def to_json(self, indent: int | None = None, errors_first: bool = False) -> str:
        return json.dumps(self.to_official(errors_first), ensure_ascii=False, indent=indent)

    @classmethod
    def from_official(cls, obj: Mapping[str, Any], domain: str) -> Critique:
        """Read the official JSON (or our superset). Counts are ignored: the list wins."""
        _check_domain(domain)
        if not isinstance(obj, Mapping):
            raise SchemaError(f"critique: expected a JSON object, got {type(obj).__name__}")
        raw_errors = obj.get("errors", [])
        if raw_errors is None:
            raw_errors = []
        if not isinstance(raw_errors, list):
            raise SchemaError(f"errors: expected a list, got {type(raw_errors).__name__}")
        return cls(
            domain=domain, errors=tuple(discrepancy_from_official(e, domain, i) for i, e in enumerate(raw_errors))
        )


def discrepancy_from_official(obj: Any, domain: str, index: int = 0) -> Discrepancy:
    """One official error object → ``Discrepancy``; accepts ``category`` or ``type`` in every domain."""
    if not isinstance(obj, Mapping):
        raise SchemaError(f"errors[{index}]: expected an object, got {type(obj).__name__}")
    raw_cat = obj.get("category", obj.get("type"))
    if raw_cat is None:
        raise SchemaError(f"errors[{index}].category: missing (neither 'category' nor 'type' given)")
    try:
        category = normalize_category(raw_cat, domain)
    except SchemaError as exc:
        raise SchemaError(f"errors[{index}].{exc}") from None
    severity = obj.get("severity")
    if isinstance(severity, str) and severity.strip().isdigit():
        severity = int(severity.strip())
    if isinstance(severity, float) and severity.is_integer():
        severity = int(severity)
    try:
        return Discrepancy(
            category=category,
            severity=severity,  # type: ignore[arg-type]
            location=str(obj.get("location", "") or ""),
            description=str(obj.get("description", "") or ""),
        )
    except SchemaError as exc:
        raise SchemaError(f"errors[{index}].{exc}") from None
