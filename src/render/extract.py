"""Pull the renderable source out of what a vision-to-code model wrote.

Models answer with a markdown fence, several fences, a fence plus chatty prose, or bare code. The paper's reward
code takes the fenced block and gives zero reward when none is found; we are more forgiving (bare code renders
too) but report ``no_code`` when the text holds nothing of the domain, so the reward layer can tell "wrote prose"
from "wrote broken code" (``syntax``).
"""

from __future__ import annotations

import ast
import re

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_LINE = re.compile(r"^\s*(import\s+\w|from\s+[\w.]+\s+import\s|plt\.|fig\b|ax\b|\w+\s*=)", re.MULTILINE)

_LANGS = {
    "chart": ("python", "py", "python3", ""),
    "table": ("html", "markdown", "md", "xml", ""),
    "svg": ("svg", "xml", "html", ""),
}


def _fenced_blocks(text: str, domain: str) -> list[str]:
    return [body for lang, body in _FENCE.findall(text) if lang.lower() in _LANGS[domain]]


def _is_code(tree: ast.Module) -> bool:
    """Prose that happens to parse ("Hello", "Yes.") is bare names or constants; code does something."""
    return any(
        not isinstance(stmt, ast.Expr) or any(isinstance(n, ast.Call) for n in ast.walk(stmt)) for stmt in tree.body
    )


def extract_chart_code(text: str) -> str | None:
    """The Python code to run, or None when the text holds no code at all."""
    blocks = _fenced_blocks(text, "chart")
    if blocks:
        # Several blocks: the plotting one wins (models sometimes show a pip command or data first).
        plotting = [b for b in blocks if "plt" in b or "matplotlib" in b or "savefig" in b]
        code = max(plotting or blocks, key=len)
        return code if code.strip() else None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        # Chatty prose before bare code: start at the first line that looks like code.
        match = _CODE_LINE.search(text)
        if match is None:
            return None
        return text[match.start() :]
    return text if _is_code(tree) else None


def extract_table_markup(text: str) -> str | None:
    """HTML or Markdown holding a table, or None when there is none."""
    for block in _fenced_blocks(text, "table") or [text]:
        if re.search(r"<table\b", block, re.IGNORECASE) or looks_like_markdown_table(block):
            return block
    return None


def extract_svg_markup(text: str) -> str | None:
    """The ``<svg>...</svg>`` document (with any XML prolog before it), or None."""
    for block in _fenced_blocks(text, "svg") or [text]:
        start = re.search(r"<svg\b", block, re.IGNORECASE)
        if start is None:
            continue
        end = block.lower().rfind("</svg>")
        prolog = re.search(r"<\?xml|<!DOCTYPE", block[: start.start()], re.IGNORECASE)
        begin = prolog.start() if prolog else start.start()
        stop = end + len("</svg>") if end > start.start() else len(block)
        return block[begin:stop]
    return None


_MD_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def looks_like_markdown_table(text: str) -> bool:
    """A pipe table: a row with pipes directly followed by a ``|---|:---:|`` separator row."""
    lines = text.splitlines()
    return any("|" in lines[i] and _MD_SEPARATOR.match(lines[i + 1]) for i in range(len(lines) - 1))


# The released reward's reading of an answer: a fence must name its language, and the last python/svg one wins.
_TAGGED_FENCE = re.compile(r"```((?a:[\w+-])+)\s*(.*?)\s*```", re.DOTALL)
_SVG_FROM_TAG = re.compile(r"<svg[^>]*>.*", re.DOTALL | re.IGNORECASE)
_RELEASED_LANGS = {"python": "chart", "svg": "svg"}


def extract_released(text: str) -> tuple[str, str] | None:
    """``(domain, code)`` as the public Visual-ERM chart/SVG reward reads an answer, or None when it finds none.

    Its rules, whatever the task: the last fenced block tagged ``python`` or ``svg`` (case-insensitive) with
    non-blank content, stripped; its tag decides the renderer. Without one, the text from the first ``<svg ...>`` on,
    with a tag cut off at the end removed and ``</svg>`` appended when the markup does not end with it.
    """
    for lang, body in reversed(_TAGGED_FENCE.findall(text)):
        domain = _RELEASED_LANGS.get(lang.strip().lower())
        if domain is not None and body.strip():
            return domain, body.strip()
    match = _SVG_FROM_TAG.search(text)
    if match is None:
        return None
    markup = re.sub(r"<[^>]*$", "", match.group(0))
    return "svg", markup if markup.strip().endswith("</svg>") else markup + "</svg>"
