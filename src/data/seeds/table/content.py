"""Content generators: the rows and headers of realistic tables, kept apart from how a table is styled or written.

The kinds follow table-parsing benchmarks: financial statements, experiment results, schedules, product
specifications, dataset statistics and regional sales, with multi-level headers and rowspan groups when asked.
"""

from __future__ import annotations

import random
from typing import Literal

from src.data.seeds.table.spec import Align, TableCell

# Each generator returns (caption, header rows, body rows, alignments, footnote) with spans only when
# ``spans`` is true; cells are created through ``_Cells`` so ids are unique within the table.


class _Cells:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, text: str, kind: Literal["text", "number"] = "text", **kw: object) -> TableCell:
        self.n += 1
        return TableCell(id=f"c{self.n}", text=text, kind=kind, **kw)  # type: ignore[arg-type]


def format_number(value: float, decimals: int, thousands: bool, paren_negative: bool = False) -> str:
    """Number text as financial and scientific tables write it: ``1,234.5`` or ``(1,234)`` for negatives."""
    spec = f"{',' if thousands else ''}.{decimals}f"
    text = format(abs(value), spec)
    if value < 0:
        return f"({text})" if paren_negative else f"-{text}"
    return text


_Content = tuple[str | None, list[list[TableCell]], list[list[TableCell]], list[Align], str | None]


def _financial(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    company = rng.choice(["Northwind Holdings", "Acme Corp.", "Helios Energy", "Bluefin Logistics", "Vireo Health"])
    periods = rng.choice(
        [["FY2021", "FY2022", "FY2023"], ["Q1 2024", "Q2 2024", "Q3 2024", "Q4 2024"], ["2020", "2021", "2022", "2023"]]
    )
    unit = rng.choice(["in thousands of USD", "in millions of EUR", "USD, thousands"])
    scale = rng.choice([1.0, 10.0, 100.0])
    revenue = [rng.uniform(800, 9000) * scale for _ in periods]
    growth = rng.uniform(0.9, 1.25)
    revenue = [v * growth**i for i, v in enumerate(revenue)]
    cogs = [v * rng.uniform(0.45, 0.7) for v in revenue]
    rnd = [v * rng.uniform(0.05, 0.15) for v in revenue]
    sga = [v * rng.uniform(0.08, 0.2) for v in revenue]
    gross = [a - b for a, b in zip(revenue, cogs, strict=True)]
    op_inc = [g - a - b for g, a, b in zip(gross, rnd, sga, strict=True)]
    tax = [max(0.0, o * 0.21) for o in op_inc]
    net = [o - t for o, t in zip(op_inc, tax, strict=True)]

    def nums(values: list[float], bold: bool = False) -> list[TableCell]:
        return [cell(format_number(v, 0, True, paren_negative=True), "number", bold=bold) for v in values]

    header = [[cell("")] + [cell(p) for p in periods]]
    body: list[list[TableCell]] = [
        [cell("Revenue")] + nums(revenue),
        [cell("Cost of revenue")] + nums(cogs),
        [cell("Gross profit", bold=True)] + nums(gross, bold=True),
    ]
    if spans:
        header = [
            [cell("", rowspan=2), cell(f"Fiscal period ({unit})", colspan=len(periods))],
            [cell(p) for p in periods],
        ]
        body += [
            [cell("Operating expenses", colspan=len(periods) + 1, italic=True, align="left")],
            [cell("Research and development")] + nums(rnd),
            [cell("Selling, general and administrative")] + nums(sga),
        ]
    else:
        body += [[cell("Research and development")] + nums(rnd), [cell("Selling, general & admin.")] + nums(sga)]
    body += [
        [cell("Operating income", bold=True)] + nums(op_inc, bold=True),
        [cell("Income tax")] + nums(tax),
        [cell("Net income", bold=True)] + nums(net, bold=True),
    ]
    caption = (
        f"{company}: consolidated statement of operations ({unit})" if not spans else f"{company}: income statement"
    )
    footnote = rng.choice([None, "Figures are unaudited. Negative values shown in parentheses."])
    align: list[Align] = ["left"]
    align += ["right"] * len(periods)  # `+=`, not `+`: a concatenation would lose the Literal type
    return caption, header, body, align, footnote


def _results(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    metrics = rng.choice([["Acc", "F1"], ["mAP", "AP50"], ["BLEU", "chrF"], ["EM", "F1"]])
    models = rng.sample(
        [
            "ResNet-50",
            "ViT-B/16",
            "ConvNeXt-T",
            "Swin-T",
            "EfficientNet-B3",
            "DeiT-S",
            "BERT-base",
            "RoBERTa-large",
            "T5-small",
            "Ours",
        ],
        k=rng.randint(4, 6),
    )
    if "Ours" not in models:
        models[-1] = "Ours"
    splits = ["Validation", "Test"]
    rows_values = []
    for _ in models:
        base = rng.uniform(55, 90)
        rows_values.append([(base + rng.uniform(-4, 4), rng.uniform(0.1, 1.5)) for _ in splits for _ in metrics])
    # For each numeric column, the row of the best mean.
    best = [
        max(range(len(models)), key=[row[j][0] for row in rows_values].__getitem__)
        for j in range(len(splits) * len(metrics))
    ]
    with_params = rng.random() < 0.6
    header: list[list[TableCell]]
    if spans:
        first = [cell("Model", rowspan=2)] + ([cell("Params (M)", rowspan=2)] if with_params else [])
        header = [first + [cell(s, colspan=len(metrics)) for s in splits], [cell(m) for _ in splits for m in metrics]]
    else:
        header = [
            [cell("Model")]
            + ([cell("Params (M)")] if with_params else [])
            + [cell(f"{s} {m}") for s in splits for m in metrics]
        ]
    body = []
    for i, name in enumerate(models):
        row = [cell(name, bold=name == "Ours")]
        if with_params:
            row.append(cell(f"{rng.uniform(5, 350):.1f}", "number"))
        for j, (mean, std) in enumerate(rows_values[i]):
            row.append(cell(f"{mean:.1f} ± {std:.1f}", "number", bold=best[j] == i))
        body.append(row)
    caption = rng.choice(
        [f"Results on the benchmark ({', '.join(metrics)}, mean ± std over 3 seeds)", "Main results", None]
    )
    footnote = rng.choice([None, "Best results in bold. Std over three random seeds."])
    n_num = len(splits) * len(metrics) + (1 if with_params else 0)
    numeric_align: Align = rng.choice(["center", "right"])
    align: list[Align] = ["left"]
    align += [numeric_align] * n_num
    return caption, header, body, align, footnote


def _schedule(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    days = rng.sample(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"], k=rng.randint(2, 3))
    days.sort(key=["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"].index)
    sessions = [
        "Keynote",
        "Poster session",
        "Tutorial: Diffusion models",
        "Panel discussion",
        "Lunch break",
        "Oral session A",
        "Workshop on robustness",
        "Coffee break",
        "Invited talk",
        "Closing remarks",
    ]
    rooms = ["Hall A", "Room 101", "Room 204", "Auditorium", "Foyer"]
    speakers = ["Dr. A. Chen", "Prof. M. Rossi", "J. Okafor", "Dr. L. Novak", "S. Tanaka", "—", "Prof. K. Larsen"]
    header = [[cell("Day"), cell("Time"), cell("Session"), cell("Room"), cell("Speaker")]]
    body: list[list[TableCell]] = []
    for day in days:
        n = rng.randint(2, 3)
        hour = rng.choice([8, 9])
        for k in range(n):
            minutes = rng.choice([0, 30])
            time = f"{hour:02d}:{minutes:02d}–{hour + 1:02d}:{minutes:02d}"
            hour += rng.choice([1, 2])
            row = []
            if spans and k == 0:
                row.append(cell(day, rowspan=n, bold=True))
            elif not spans:
                row.append(cell(day))
            row += [cell(time), cell(rng.choice(sessions)), cell(rng.choice(rooms)), cell(rng.choice(speakers))]
            body.append(row)
    caption = rng.choice(["Conference programme", "Workshop schedule (all times CET)", None])
    return caption, header, body, ["left", "center", "left", "left", "left"], None


def _product_specs(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    brand = rng.choice(["Nimbus", "Orion", "Pixelon", "Vertex"])
    products = [f"{brand} {m}" for m in rng.sample(["S", "Pro", "Max", "Lite", "Ultra", "Mini"], k=3)]
    specs = [
        ("Display", lambda: f"{rng.uniform(5.4, 6.9):.1f} in"),
        ("Resolution", lambda: rng.choice(["1080 × 2400", "1170 × 2532", "1440 × 3200", "720 × 1600"])),
        ("Weight", lambda: f"{rng.randint(140, 240)} g"),
        ("Battery", lambda: f"{rng.randint(2800, 5500):,} mAh"),
        ("Storage", lambda: rng.choice(["64 GB", "128 GB", "256 GB", "512 GB"])),
        ("Refresh rate", lambda: f"{rng.choice([60, 90, 120, 144])} Hz"),
        ("Price", lambda: f"${rng.randint(199, 1299):,}"),
    ]
    chosen = [specs[0]] + rng.sample(specs[1:-1], k=rng.randint(3, 5)) + [specs[-1]]
    header = [[cell("Specification")] + [cell(p) for p in products]]
    body = []
    for name, value in chosen:
        kind: Literal["text", "number"] = "text" if name in ("Resolution",) else "number"
        body.append([cell(name, bold=rng.random() < 0.3)] + [cell(value(), kind) for _ in products])
    if spans:
        header = [
            [cell("Specification", rowspan=2), cell(f"{brand} line-up", colspan=len(products))],
            [cell(p) for p in products],
        ]
    footnote = rng.choice([None, "Prices are launch prices in USD.", "Battery capacity is typical, not rated."])
    align: list[Align] = ["left"]
    align += ["center"] * 3
    return rng.choice([f"{brand} smartphone comparison", None]), header, body, align, footnote


def _dataset_stats(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    datasets = rng.sample(
        [
            ("CIFAR-10", "Images", 10),
            ("ImageNet-1k", "Images", 1000),
            ("SST-2", "Text", 2),
            ("MNLI", "Text", 3),
            ("COCO", "Images", 80),
            ("LibriSpeech", "Audio", 0),
            ("SQuAD 2.0", "Text", 0),
            ("Cityscapes", "Images", 30),
        ],
        k=rng.randint(4, 6),
    )
    if spans:
        header = [
            [
                cell("Dataset", rowspan=2),
                cell("Modality", rowspan=2),
                cell("Examples", colspan=3),
                cell("Classes", rowspan=2),
            ],
            [cell("Train"), cell("Val"), cell("Test")],
        ]
    else:
        header = [[cell("Dataset"), cell("Modality"), cell("# Train"), cell("# Val"), cell("# Test"), cell("Classes")]]
    body = []
    for name, modality, classes in datasets:
        train = rng.randint(5_000, 1_300_000)
        body.append(
            [
                cell(name),
                cell(modality, italic=rng.random() < 0.2),
                cell(f"{train:,}", "number"),
                cell(f"{int(train * rng.uniform(0.05, 0.2)):,}", "number"),
                cell(f"{int(train * rng.uniform(0.05, 0.2)):,}", "number"),
                cell(str(classes) if classes else "–", "number" if classes else "text"),
            ]
        )
    return (
        rng.choice(["Dataset statistics", "Table 1: Datasets used in our experiments", None]),
        header,
        body,
        ["left", "left", "right", "right", "right", "center"],
        rng.choice([None, "–: not a classification task."]),
    )


def _regional_sales(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    regions = rng.sample(["North America", "Europe", "Asia-Pacific", "Latin America"], k=2)
    products = rng.sample(["Widgets", "Gadgets", "Sensors", "Licences", "Services"], k=rng.randint(2, 3))
    quarters = ["Q1", "Q2", "Q3", "Q4"]
    currency = rng.choice(["$", "€", ""])
    header = [[cell("Region"), cell("Product")] + [cell(q) for q in quarters] + [cell("Total")]]
    body = []
    for region in regions:
        for k, product in enumerate(products):
            values = [rng.randint(1_000, 95_000) for _ in quarters]
            row = []
            if spans and k == 0:
                row.append(cell(region, rowspan=len(products), bold=True))
            elif not spans:
                row.append(cell(region))
            row += [cell(product)] + [cell(f"{currency}{v:,}", "number") for v in values]
            row.append(cell(f"{currency}{sum(values):,}", "number", bold=True))
            body.append(row)
    caption = rng.choice([f"Quarterly sales by region ({currency or 'units'})", "Sales report 2023", None])
    align: list[Align] = ["left", "left"]
    align += ["right"] * 5
    return caption, header, body, align, None


_GENERATORS = (_financial, _results, _schedule, _product_specs, _dataset_stats, _regional_sales)
