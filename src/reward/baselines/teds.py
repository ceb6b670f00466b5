"""TEDS (tree-edit-distance similarity) between two HTML tables, as in PubTabNet and the table benchmarks.

TEDS = 1 − TED(T_ref, T_cand) / max(|T_ref|, |T_cand|), where the trees hold ``table`` → ``tr`` → ``td`` nodes. Inserting or deleting a node costs 1; renaming costs 1 when tag, colspan or rowspan differ, and for
two cells the normalized Levenshtein distance of their text (0 under TEDS-S, ``structure_only``). The tree edit
distance itself is ``apted``'s (the algorithm PubTabNet's reference code uses); only the HTML → tree step is ours,
on the standard library's tolerant parser, so malformed model output still yields a tree. ``th`` counts as ``td``
(PubTabNet's convention); captions and markup inside cells are read as cell text. Unlike PubTabNet, the
``thead``/``tbody``/``tfoot`` wrappers are left out of the tree: they draw nothing, and a Markdown table (which our
renderer wraps in them) must score 1 against the same table written in bare HTML rows.

Cost: apted is pure Python and roughly cubic in the node count (seconds for a few hundred nodes, most of a minute
past six hundred), and policy output is untrusted, so as a *reward* (``TEDSReward``) a candidate tree above
``max_nodes`` scores 0 instead of stalling the step, and a reference above it is refused. ``teds()`` itself is
uncapped by default: offline evaluation on large benchmark tables wants the exact value, however long it takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser

from apted import APTED, Config

from src.render.extract import extract_table_markup, looks_like_markdown_table
from src.render.markdown_table import markdown_to_html
from src.reward.pair import PairError, RewardPair, check_pairs

_SECTIONS = ("thead", "tbody", "tfoot")


@dataclass
class TableNode:
    tag: str
    colspan: int = 1
    rowspan: int = 1
    text: str = ""
    children: list[TableNode] = field(default_factory=list)

    def size(self) -> int:
        return 1 + sum(child.size() for child in self.children)


class _TableTreeBuilder(HTMLParser):
    """The first top-level ``<table>`` as a ``TableNode`` tree; tolerates unclosed rows and cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: TableNode | None = None
        self.stack: list[TableNode] = []
        self.nested = 0  # depth of tables inside a cell: read as that cell's text
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        tag = "td" if tag == "th" else tag
        if tag == "table":
            if self.root is None:
                self.root = TableNode("table")
                self.stack = [self.root]
            else:
                self.nested += 1
            return
        if not self.stack or self.nested:
            return
        if tag in _SECTIONS:
            self._close_to("table")
        elif tag == "tr":
            self._close_to("table")
            self._push(TableNode("tr"))
        elif tag == "td":
            self._close_to("tr")
            if self.stack[-1].tag != "tr":  # a cell outside any row: give it one, as browsers do
                self._close_to("table")
                self._push(TableNode("tr"))
            spans = {k: _span(v) for k, v in attrs if k in ("colspan", "rowspan")}
            self._push(TableNode("td", colspan=spans.get("colspan", 1), rowspan=spans.get("rowspan", 1)))

    def handle_endtag(self, tag: str) -> None:
        if self.done or not self.stack:
            return
        tag = "td" if tag == "th" else tag
        if tag == "table":
            if self.nested:
                self.nested -= 1
            else:
                self.done = True
        elif tag in _SECTIONS and not self.nested:
            self._close_to("table")
        elif tag in ("td", "tr") and not self.nested and any(node.tag == tag for node in self.stack):
            while self.stack[-1].tag != tag:
                self.stack.pop()
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and not self.done and self.stack[-1].tag == "td":
            self.stack[-1].text += data

    def _push(self, node: TableNode) -> None:
        self.stack[-1].children.append(node)
        self.stack.append(node)

    def _close_to(self, *tags: str) -> None:
        while len(self.stack) > 1 and self.stack[-1].tag not in tags:
            self.stack.pop()


def _span(value: str | None) -> int:
    try:
        return max(1, min(1000, int(value or 1)))
    except ValueError:
        return 1


def table_tree(markup: str) -> TableNode | None:
    """The first table in HTML or Markdown ``markup`` as a tree (cell text whitespace-normalized), or None."""
    if looks_like_markdown_table(markup) and "<table" not in markup.lower():
        markup = markdown_to_html(markup)
    builder = _TableTreeBuilder()
    builder.feed(markup)
    builder.close()
    if builder.root is not None:
        _normalize_text(builder.root)
    return builder.root


def _normalize_text(node: TableNode) -> None:
    node.text = " ".join(node.text.split())
    for child in node.children:
        _normalize_text(child)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute; each 1) between two strings.

    Bit-parallel (Myers/Hyyrö): one pass over ``a`` with ``b`` as a bit vector instead of the textbook
    ``len(a) x len(b)`` table: whole tables (the policy metric's normalized edit distance) are thousands of
    characters long, and the table's cost is their product.
    """
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    match: dict[str, int] = {}
    for i, char in enumerate(b):
        match[char] = match.get(char, 0) | (1 << i)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    plus, minus, score = full, 0, m  # vertical +1 / -1 deltas of the DP column, and its last cell
    for char in a:
        eq = match.get(char, 0)
        xv = eq | minus
        xh = (((eq & plus) + plus) ^ plus) | eq
        h_plus = minus | ~(xh | plus)
        h_minus = plus & xh
        if h_plus & top:
            score += 1
        elif h_minus & top:
            score -= 1
        h_plus = (h_plus << 1) | 1
        h_minus <<= 1
        plus = (h_minus | ~(xv | h_plus)) & full
        minus = h_plus & xv & full
    return score


class _TEDSCosts(Config):
    valuecls = float

    def __init__(self, structure_only: bool) -> None:
        self.structure_only = structure_only

    def rename(self, node1: TableNode, node2: TableNode) -> float:
        if (node1.tag, node1.colspan, node1.rowspan) != (node2.tag, node2.colspan, node2.rowspan):
            return 1.0
        if node1.tag == "td" and not self.structure_only and (node1.text or node2.text):
            return levenshtein(node1.text, node2.text) / max(len(node1.text), len(node2.text))
        return 0.0

    def children(self, node: TableNode) -> list[TableNode]:
        return node.children


def teds(reference: str, candidate: str, structure_only: bool = False, max_nodes: int | None = None) -> float:
    """TEDS of ``candidate``'s first table against ``reference``'s, in [0, 1]; 0 when the candidate has none or (with
    a cap) more than ``max_nodes`` nodes; ``ValueError`` for a reference without a table or above the cap."""
    ref_tree = table_tree(reference)
    if ref_tree is None:
        raise ValueError("reference: no <table> or Markdown pipe table found")
    if max_nodes is not None and ref_tree.size() > max_nodes:
        raise ValueError(f"reference: its table has {ref_tree.size()} nodes, above max_nodes={max_nodes}")
    cand_tree = table_tree(candidate)
    if cand_tree is None or (max_nodes is not None and cand_tree.size() > max_nodes):
        return 0.0
    distance = APTED(ref_tree, cand_tree, _TEDSCosts(structure_only)).compute_edit_distance()
    return max(0.0, 1.0 - float(distance) / max(ref_tree.size(), cand_tree.size()))


class TEDSReward:
    """TEDS between the reference table's markup and the candidate's (tables only; needs both sources on the pair).

    Args:
        structure_only: TEDS-S: ignore cell text, compare structure and spans only.
        max_nodes: largest table tree compared (tree edit distance is cubic); larger candidates score 0.
    """

    def __init__(self, structure_only: bool = False, max_nodes: int = 400) -> None:
        if max_nodes < 3:
            raise ValueError(f"max_nodes: must be >= 3, got {max_nodes}")
        self.structure_only = structure_only
        self.max_nodes = max_nodes

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        check_pairs(pairs)
        rewards = []
        for i, pair in enumerate(pairs):
            if pair.domain != "table":
                raise PairError(f"pairs[{i}].domain: TEDS scores tables, got {pair.domain!r}")
            if pair.reference_source is None or pair.candidate_source is None:
                raise PairError(f"pairs[{i}]: TEDS needs reference_source and candidate_source")
            if not pair.rendered:
                rewards.append(0.0)
                continue
            markup = extract_table_markup(pair.candidate_source)
            try:
                score = teds(pair.reference_source, markup, self.structure_only, self.max_nodes) if markup else 0.0
            except ValueError as exc:
                raise PairError(f"pairs[{i}].reference_source: {exc}") from None
            rewards.append(score)
        return rewards
