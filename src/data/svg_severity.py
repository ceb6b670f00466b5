"""How an SVG discrepancy is graded (1 minor, 2 medium, 3 severe), in one place for the perturbations that make
labelled pairs (``src.data.perturb.svg``) and the differ that labels a policy's answer (``src.data.shape_diff``): a
synthesized pair and a labelled answer grade the same difference alike."""

from __future__ import annotations


def shift_severity(distance: float, canvas_side: float) -> int:
    """A move under 4 % of the canvas is minor, up to 12 % medium, farther severe."""
    rel = distance / canvas_side
    return 1 if rel < 0.04 else 2 if rel <= 0.12 else 3


def resize_severity(change: float) -> int:
    """A size change (``|factor - 1|``) within 15 % is minor, within 35 % medium, more severe."""
    return 1 if change <= 0.15 else 2 if change <= 0.35 else 3


def fill_severity(other_colour: bool, area_fraction: float) -> int:
    """A shade is minor; another colour medium, severe on an element over a quarter of the canvas."""
    if not other_colour:
        return 1
    return 3 if area_fraction > 0.25 else 2


def missing_severity(area_fraction: float, is_text: bool = False) -> int:
    """A missing element is severe when it is text or covers at least 4 % of the canvas, else medium."""
    return 3 if is_text or area_fraction >= 0.04 else 2
