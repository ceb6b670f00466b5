"""Perturbations labelled ``text``: a typo or other words in a title, axis label, legend entry, tick label,
annotation or colour-bar label, with replacement words drawn from the seeds' topics so they fit the chart."""

from __future__ import annotations

import random
from dataclasses import replace

from src.data.perturb.base import Perturbation
from src.data.perturb.chart.bookkeeping import _is_free, _names_visible, _where, _with_panel, _with_series
from src.data.schema import Discrepancy
from src.data.seeds.chart import (
    CATEGORY_TOPICS,
    DISTRIBUTION_TOPICS,
    ERRORBAR_TOPICS,
    HEATMAP_TOPICS,
    PIE_TOPICS,
    RANKING_TOPICS,
    SCATTER_TOPICS,
    ChartSpec,
    Series,
)

# A mistyped letter is its right-hand neighbour on a QWERTY row (left-hand for the last key of a row).
_KEYBOARD_NEIGHBOURS = {
    row[k]: row[k + 1] if k + 1 < len(row) else row[k - 1]
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for k in range(len(row))
}


def make_typo(text: str, rng: random.Random) -> str | None:
    """A realistic typo in one word of ≥ 4 letters: two letters swapped, one dropped, or one mistyped."""
    words = [(k, w) for k, w in enumerate(text.split(" ")) if sum(c.isalpha() for c in w) >= 4]
    if not words:
        return None
    k, word = rng.choice(words)
    letters = [n for n, c in enumerate(word) if c.isalpha()]
    for _ in range(10):
        op = rng.choice(("swap", "drop", "mistype"))
        n = rng.choice(letters[1:-1] or letters)
        if op == "swap" and n + 1 < len(word) and word[n + 1].isalpha() and word[n] != word[n + 1]:
            new = word[:n] + word[n + 1] + word[n] + word[n + 2 :]
        elif op == "drop":
            new = word[:n] + word[n + 1 :]
        elif op == "mistype" and word[n].lower() in _KEYBOARD_NEIGHBOURS:
            c = _KEYBOARD_NEIGHBOURS[word[n].lower()]
            new = word[:n] + (c.upper() if word[n].isupper() else c) + word[n + 1 :]
        else:
            continue
        if new != word:
            parts = text.split(" ")
            parts[k] = new
            return " ".join(parts)
    return None


_UNIT_SWAPS = (
    ("USD", "EUR"),
    ("millions", "billions"),
    ("thousands", "millions"),
    ("(%)", "(count)"),
    ("(ms)", "(s)"),
    ("(mm)", "(cm)"),
    ("TWh", "GWh"),
    ("(years)", "(months)"),
    ("(cm)", "(mm)"),
)


def _relabel_axis(label: str, rng: random.Random) -> str | None:
    for a, b in rng.sample(_UNIT_SWAPS, len(_UNIT_SWAPS)):
        if a in label:
            return label.replace(a, b)
    others = [t.ylabel for t in CATEGORY_TOPICS] + [t.xlabel for t in CATEGORY_TOPICS]
    others = [o for o in others if o and o != label]
    return rng.choice(others) if label else None


def _other_titles(current: str) -> list[str]:
    titles = [t.title.replace(" ({span})", "") for t in CATEGORY_TOPICS] + [t[0] for t in ERRORBAR_TOPICS]
    titles += [t[0] for t in DISTRIBUTION_TOPICS]
    return [t for t in titles if t != current]


def perturb_text(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """Title, axis label, legend entry, tick label, annotation or colour-bar label: a typo (1) or other words."""
    options: list[tuple[str, int, object]] = []
    if len(spec.panels) > 1 and spec.suptitle and _is_free(spec, "fig.suptitle"):
        options.append(("suptitle", -1, None))
    for i, p in enumerate(spec.panels):
        for field_name in ("title", "xlabel", "ylabel"):
            if getattr(p, field_name) and _is_free(spec, f"p{i}.{field_name}"):
                options.append((field_name, i, None))
        if _names_visible(p):
            options += [("name", i, s) for s in p.series if _is_free(spec, f"p{i}.plot.s{s.sid}")]
        if p.kind not in ("scatter", "hist", "pie", "donut", "box") and not (
            p.kind in ("line", "multi_line", "area") and all(c.isdigit() for c in p.categories)
        ):
            options += [("tick", i, j) for j in range(len(p.categories)) if _is_free(spec, f"p{i}.plot.cat{j}")]
        options += [("annotation", i, k) for k in range(len(p.annotations)) if _is_free(spec, f"p{i}.annot{k}")]
        if p.colorbar_label and _is_free(spec, f"p{i}.colorbar"):
            options.append(("colorbar", i, None))
    rng.shuffle(options)
    for what, i, target in options[:10]:
        typo = rng.random() < 0.5
        if what == "suptitle":
            old = spec.suptitle
            new = make_typo(old, rng) if typo else rng.choice(_other_titles(old))
            if not new or new == old:
                continue
            err = Discrepancy(
                "text", 1 if typo else 3, "figure title", _text_description("figure title", old, new, typo)
            )
            return Perturbation("text", replace(spec, suptitle=new, touched=spec.touched | {"fig.suptitle"}), (err,))
        p = spec.panels[i]
        where = _where(spec, i)
        if what in ("title", "xlabel", "ylabel"):
            old = getattr(p, what)
            if typo:
                new = make_typo(old, rng)
            else:
                new = rng.choice(_other_titles(old)) if what == "title" else _relabel_axis(old, rng)
            if not new or new == old:
                continue
            place = {"title": "title", "xlabel": "x-axis label", "ylabel": "y-axis label"}[what]
            severity = 1 if typo else (3 if what == "title" else 2)
            err = Discrepancy("text", severity, f"{where}{place}", _text_description(place, old, new, typo))
            if what == "title":
                changed = replace(p, title=new)
            elif what == "xlabel":
                changed = replace(p, xlabel=new)
            else:
                changed = replace(p, ylabel=new)
            return Perturbation("text", _with_panel(spec, i, changed, f"p{i}.{what}"), (err,))
        if what == "name":
            s = target
            assert isinstance(s, Series)
            new = make_typo(s.name, rng) if typo else None
            if new is None:
                pool = [n for n in _sibling_names(s.name) if n not in {r.name for r in p.series}]
                new, typo = (rng.choice(pool) if pool else None), False
            if not new or new in {r.name for r in p.series}:
                continue
            place = {"box": "x-axis tick label", "heatmap": "y-axis tick label"}.get(p.kind, "legend entry")
            if p.kind in ("pie", "donut") and p.legend_loc is None:
                place = "wedge label"
            err = Discrepancy(
                "text", 1 if typo else 2, f"{where}{place} '{s.name}'", _text_description(place, s.name, new, typo)
            )
            new_p = _with_series(p, replace(s, name=new))
            return Perturbation("text", _with_panel(spec, i, new_p, f"p{i}.plot.s{s.sid}.name"), (err,))
        if what == "tick":
            j = target
            assert isinstance(j, int)
            old = p.categories[j]
            new = make_typo(old, rng) if typo else None
            if new is None:
                pool = [c for c in _sibling_names(old) if c not in p.categories]
                new, typo = (rng.choice(pool) if pool else None), False
            if not new or new in p.categories:
                continue
            axis = "y" if p.kind == "barh" else "x"
            err = Discrepancy(
                "text",
                1 if typo else 2,
                f"{where}{axis}-axis tick label '{old}'",
                _text_description("tick label", old, new, typo),
            )
            cats = p.categories[:j] + (new,) + p.categories[j + 1 :]
            return Perturbation("text", _with_panel(spec, i, replace(p, categories=cats), f"p{i}.plot.cat{j}"), (err,))
        if what == "annotation":
            k = target
            assert isinstance(k, int)
            a = p.annotations[k]
            new = make_typo(a.text, rng) if typo else None
            if not new:
                head, _, tail = a.text.partition(":")
                new = (
                    rng.choice([t for t in ("Peak", "Record high", "Low point", "Forecast") if t != head]) + ":" + tail
                )
                typo = False
            err = Discrepancy(
                "text",
                1 if typo else 2,
                f"{where}annotation '{a.text}'",
                _text_description("annotation", a.text, new, typo),
            )
            notes = p.annotations[:k] + (replace(a, text=new),) + p.annotations[k + 1 :]
            return Perturbation("text", _with_panel(spec, i, replace(p, annotations=notes), f"p{i}.annot{k}"), (err,))
        if what == "colorbar":
            new = make_typo(p.colorbar_label, rng) if typo else _relabel_axis(p.colorbar_label, rng)
            if not new or new == p.colorbar_label:
                continue
            err = Discrepancy(
                "text",
                1 if typo else 2,
                f"{where}colour bar label",
                _text_description("colour bar label", p.colorbar_label, new, typo),
            )
            return Perturbation("text", _with_panel(spec, i, replace(p, colorbar_label=new), f"p{i}.colorbar"), (err,))
    return None


def _sibling_names(name: str) -> list[str]:
    """Other names from every word list that holds ``name``: a replacement that fits the chart's topic."""
    lists: list[tuple[str, ...]] = []
    for t in (*CATEGORY_TOPICS, *RANKING_TOPICS):
        lists += [t.categories, t.series]
    lists += [t[5] for t in DISTRIBUTION_TOPICS] + [t[1] for t in PIE_TOPICS] + [t[5] for t in SCATTER_TOPICS]
    lists += [t[3] for t in ERRORBAR_TOPICS] + [t[4] for t in ERRORBAR_TOPICS]
    lists += [t[1] for t in HEATMAP_TOPICS] + [t[2] for t in HEATMAP_TOPICS]
    return list(dict.fromkeys(n for names in lists if name in names for n in names if n != name))


def _text_description(place: str, old: str, new: str, typo: bool) -> str:
    kind = "has a typo" if typo else "reads differently"
    return f"the {place} {kind}: '{new}' instead of '{old}'"
