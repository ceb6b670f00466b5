"""What every reward scores: a (reference image, rendered candidate, domain) pair, and the callable that scores them.

The Visual-ERM judge and every baseline (render success, pixel MSE, SSIM, embedding cosine, TEDS, weighted sums)
take the same ``Sequence[RewardPair]`` and return one float per pair, so the GRPO stage, the TRL adapter and the
reward-hacking probes pick any of them by ``class_path`` in YAML and nothing else changes.

Why a pair carries a ``RenderResult`` rather than an image: a candidate whose code did not render (no code, syntax
error, timeout, blank page) must score as a failure without ever reaching the judge, and every reward needs to see
that the same way. ``group`` names the GRPO group (one prompt's rollouts) for rewards that normalize within a group
(paper Eq. 4); ``None`` puts the pair in a group of its own.
"""

from __future__ import annotations

import io
import os
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from PIL import Image, UnidentifiedImageError

from src.render.image import MAX_DECODE_PIXELS, flatten_on_white
from src.render.job import DOMAINS, RenderResult


class PairError(ValueError):
    """A pair that cannot be scored as given (unreadable reference image, unknown domain); names the field."""


ReferenceLike = Image.Image | bytes | str | os.PathLike[str]


@dataclass(frozen=True)
class RewardPair:
    """One candidate to score against its reference.

    Args:
        reference: the reference image (RGB; use ``load_reference`` for PNG bytes or a path).
        candidate: the candidate's render; ``png`` is set exactly when it rendered.
        domain: ``chart``, ``table`` or ``svg``.
        group: GRPO group key (rollouts of one prompt share it); ``None``: a group of its own.
        reference_source: the reference's code/markup, for rewards that compare sources (TEDS).
        candidate_source: the candidate's code/markup as the model wrote it, likewise.
    """

    reference: Image.Image
    candidate: RenderResult
    domain: str
    group: Hashable | None = None
    reference_source: str | None = None
    candidate_source: str | None = None

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise PairError(f"domain: {self.domain!r} is not one of {DOMAINS}")
        if not isinstance(self.reference, Image.Image):
            raise PairError(f"reference: expected a PIL image, got {type(self.reference).__name__}")
        if not isinstance(self.candidate, RenderResult):
            raise PairError(f"candidate: expected a RenderResult, got {type(self.candidate).__name__}")
        if self.candidate.ok and not self.candidate.png:
            raise PairError("candidate: marked ok but carries no PNG")

    @property
    def rendered(self) -> bool:
        return self.candidate.ok

    def candidate_image(self) -> Image.Image:
        """The candidate's pixels as RGB on white; only for rendered candidates."""
        if not self.candidate.ok or self.candidate.png is None:
            raise PairError(f"candidate did not render ({self.candidate.error_kind}); it has no image")
        return _decode_png(self.candidate.png, "candidate.png")


def load_reference(reference: ReferenceLike) -> Image.Image:
    """A reference image as RGB on white, from a PIL image, PNG/JPEG bytes or a file path; ``PairError`` if unreadable."""
    if isinstance(reference, Image.Image):
        return flatten_on_white(reference)
    if isinstance(reference, bytes | bytearray):
        return _decode_png(bytes(reference), "reference")
    if isinstance(reference, str | os.PathLike):
        try:
            data = Path(reference).read_bytes()
        except OSError as exc:
            raise PairError(f"reference: cannot read {os.fspath(reference)!r}: {exc.strerror}") from None
        return _decode_png(data, f"reference {os.fspath(reference)!r}")
    raise PairError(f"reference: expected a PIL image, bytes or a path, got {type(reference).__name__}")


def _decode_png(data: bytes, what: str) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_DECODE_PIXELS:
                raise PairError(f"{what}: {image.width}x{image.height} exceeds {MAX_DECODE_PIXELS} pixels")
            image.load()
            return flatten_on_white(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, PairError):
            raise
        raise PairError(f"{what}: not a readable image ({type(exc).__name__}: {exc})") from None


@runtime_checkable
class RewardFunction(Protocol):
    """Any reward: one float per pair, in order. Higher is better; a candidate that did not render scores lowest."""

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]: ...


def check_pairs(pairs: Sequence[RewardPair]) -> None:
    """Reject anything that is not a ``RewardPair`` before a reward starts work on a batch."""
    for i, pair in enumerate(pairs):
        if not isinstance(pair, RewardPair):
            raise PairError(f"pairs[{i}]: expected a RewardPair, got {type(pair).__name__}")
