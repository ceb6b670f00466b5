"""The critic prompt: what the reward model is asked, per domain, with the reference image first.

The wording is ours; the answer format is the released Visual-ERM's (``InternLM/Visual-ERM``
``rl_scripts/reward_func``), so a model trained here and the public checkpoint answer the same JSON and
``src.reward.parse_critique`` reads both. Layout as in the public reward code: one user turn holding the two images
(reference, then candidate) followed by the instruction; no system turn, as in Qwen3-VL's default template.
Categories and their JSON keys come from ``src.data.schema`` so prompt and parser cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from PIL import Image

from src.data.schema import CATEGORIES, CATEGORY_KEY
from src.render.job import DOMAINS

# What each domain's images are, in the critic's words.
_SUBJECT: dict[str, tuple[str, str]] = {
    "chart": ("chart", "a chart drawn by reference Matplotlib code"),
    "table": ("table", "a table rendered from reference HTML/Markdown"),
    "svg": ("graphic", "an icon or diagram rendered from reference SVG code"),
}
# One line per category so the model knows where a discrepancy belongs.
_CATEGORY_MEANING: dict[str, dict[str, str]] = {
    "chart": {
        "structure": "chart type, subplot arrangement, missing or extra series, axes or legend",
        "data": "plotted values, counts, ranges, ordering of data points",
        "text": "titles, axis labels, tick labels, legend entries, annotations",
        "style": "colours, line and marker styles, fonts, sizes, positions, grid",
    },
    "table": {
        "layout": "rows, columns, merged cells, header structure, alignment, borders",
        "text": "words in cells, headers or caption",
        "numeric": "numbers, symbols, units, signs and decimals",
    },
    "svg": {
        "structure": "missing or extra elements, grouping, layering order",
        "shape": "geometry: kind of shape, position, size, outline",
        "style": "fill and stroke colours, stroke widths, opacity, gradients",
        "text_symbol": "text, letters, digits and symbols drawn in the graphic",
    },
}
_LOCATION_EXAMPLES: dict[str, str] = {
    "chart": "'legend, upper right', 'left subplot, y-axis'",
    "table": "'row 3, column Revenue', 'header row'",
    "svg": "'top-left circle', 'centre text'",
}


def critic_answer_schema(domain: str) -> dict[str, Any]:
    """The JSON skeleton the critic must fill: counts per category, then one object per discrepancy."""
    _check_domain(domain)
    cats = CATEGORIES[domain]
    schema: dict[str, Any] = {f"{c}_error_count": "int" for c in cats}
    schema["errors"] = [
        {
            CATEGORY_KEY[domain]: " | ".join(f"{c}_error" for c in cats),
            "severity": "1 | 2 | 3",
            "location": f"where in the image, e.g. {_LOCATION_EXAMPLES[domain]}",
            "description": "what differs, briefly",
        }
    ]
    return schema


CriticInstruction = Literal["full", "short"]


def critic_instruction(domain: str, style: CriticInstruction = "full") -> str:
    """The text that follows the two images in the critic's user turn.

    ``short``: one sentence, for a model trained from scratch on the task (the miniature reproduction), where the
    full instruction would be most of every sample's tokens and teaches such a model nothing it does not learn from
    the answers.
    """
    _check_domain(domain)
    noun, origin = _SUBJECT[domain]
    if style == "short":
        return f"Compare the candidate {noun} with the reference {noun}; answer with the JSON list of discrepancies."
    categories = "\n".join(
        f"- {c}_error: {meaning}" for c, meaning in _CATEGORY_MEANING[domain].items() if c in CATEGORIES[domain]
    )
    return (
        f"The first image is the reference: {origin}. The second image is the candidate: the same {noun} as "
        f"rendered from code that a model wrote to reproduce the reference.\n\n"
        f"Find every visible way in which the candidate differs from the reference and file each one under "
        f"exactly one category:\n{categories}\n\n"
        "Grade each discrepancy:\n"
        "- 1 = minor: noticeable, but reading the image is not affected\n"
        "- 2 = medium: part of the content is wrong and would need fixing\n"
        "- 3 = severe: wrong structure or key content, misleading or no longer aligned with the reference\n\n"
        "If the two images show the same content, return an empty error list. Answer with one JSON object and "
        "nothing else, in exactly this form:\n"
        f"{json.dumps(critic_answer_schema(domain), indent=2)}"
    )


def build_critic_messages(
    domain: str,
    reference_image: Image.Image | str,
    candidate_image: Image.Image | str,
    instruction: CriticInstruction = "full",
) -> list[dict[str, Any]]:
    """Chat messages for ``processor.apply_chat_template``: reference image, candidate image, instruction.

    Images may be PIL images or anything the processor's image loader takes (a path or URL string).
    """
    _check_domain(domain)
    for name, image in (("reference_image", reference_image), ("candidate_image", candidate_image)):
        if not isinstance(image, Image.Image | str):
            raise TypeError(f"{name}: expected a PIL image or a path/URL string, got {type(image).__name__}")
    return [
        {
            "role": "user",
            "content": [
                {"type": "image", "image": reference_image},
                {"type": "image", "image": candidate_image},
                {"type": "text", "text": critic_instruction(domain, instruction)},
            ],
        }
    ]


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"domain: {domain!r} is not one of {DOMAINS}")


# The fence each domain's instruction asks the policy to answer in.
CODE_FENCE_LANGUAGE: dict[str, str] = {"chart": "python", "table": "html", "svg": "svg"}


def fenced_answer(domain: str, code: str) -> str:
    """Code as the policy instruction asks for it: one fenced block of the domain's language."""
    return f"```{CODE_FENCE_LANGUAGE[domain]}\n{code.strip()}\n```"


# What the policy is asked to write per domain; the answer format matches what the render pool accepts (a fenced
# block is fine: the renderers extract code from markdown).
POLICY_INSTRUCTIONS: dict[str, str] = {
    "chart": (
        "Write Python code with matplotlib that reproduces this chart as exactly as possible: the same chart type, "
        "data values, colours, text (title, axis labels, tick labels, legend), layout and figure size. "
        "Answer with one ```python code block and nothing else."
    ),
    "table": (
        "Write HTML that reproduces this table as exactly as possible: the same rows, columns, merged cells, "
        "header, cell text and numbers, alignment, borders and emphasis. Answer with one ```html code block "
        "containing the <table> and nothing else."
    ),
    "svg": (
        "Write SVG code that reproduces this image as exactly as possible: the same shapes, positions, sizes, "
        "colours, strokes, layering and text. Answer with one ```svg code block containing the <svg> element and "
        "nothing else."
    ),
}


def build_policy_messages(domain: str, reference_image: Any) -> list[dict[str, Any]]:
    """Chat messages for the policy: the reference image, then the domain's instruction."""
    if domain not in DOMAINS:
        raise ValueError(f"domain: {domain!r} is not one of {DOMAINS}")
    return [
        {
            "role": "user",
            "content": [
                {"type": "image", "image": reference_image},
                {"type": "text", "text": POLICY_INSTRUCTIONS[domain]},
            ],
        }
    ]


def build_transcription_messages(
    domain: str, reference_image: Image.Image | str, candidate_image: Image.Image | str
) -> list[dict[str, Any]]:
    """The critic's two images in the critic's order, asking for the code of each: dense supervision that teaches
    a small critic to read the two images apart before (and while) it learns to compare them."""
    _check_domain(domain)
    language = CODE_FENCE_LANGUAGE[domain]
    return [
        {
            "role": "user",
            "content": [
                {"type": "image", "image": reference_image},
                {"type": "image", "image": candidate_image},
                {"type": "text", "text": f"Write the {language} code of each image, in order."},
            ],
        }
    ]
