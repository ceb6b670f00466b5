"""Fixtures shared by every test package: the tiny Qwen3-VL (built once per session), its processor, and a small
shard directory of drawn image pairs.

The shard images are drawn with PIL (bars, cells, shapes whose size depends on the pair), so the DataModule and stage
tests exercise real PNG files, real manifests and real critiques without waiting for the render pool (and run where
no browser or cairosvg is installed, such as the GPU machine); the synthesis tests render through the pool themselves.
"""

from __future__ import annotations

import random
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from src.data.schema import CATEGORIES, Critique, Discrepancy
from src.data.shards import ShardWriter
from src.data.synthesis import official_human_errors
from src.models.tiny import build_tiny_qwen3_vl


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen3-VL checkpoint directory (config, weights, tokenizer, chat template, processor).

    Load it with ``load_vlm(VLMLoader(name_or_path=str(tiny_model_dir)))`` or ``load_processor(tiny_model_dir)``.
    Read-only by convention: tests that change weights save to their own ``tmp_path``.
    """
    return build_tiny_qwen3_vl(tmp_path_factory.mktemp("tiny-qwen3-vl"), seed=0)


SHARD_PAIRS_PER_DOMAIN = 8


def drawn_png(domain: str, variant: int, size: tuple[int, int]) -> bytes:
    """A small image that looks different per (domain, variant) and whose size varies, like real renders."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    w, h = size
    if domain == "chart":
        for i in range(5):
            top = h - 10 - ((variant * 7 + i * 13) % (h - 20))
            draw.rectangle([10 + i * (w - 20) // 5, top, 10 + (i + 1) * (w - 20) // 5 - 4, h - 10], fill=(31, 119, 180))
    elif domain == "table":
        for r in range(4):
            for c in range(3):
                draw.rectangle(
                    [
                        5 + c * (w - 10) // 3,
                        5 + r * (h - 10) // 4,
                        5 + (c + 1) * (w - 10) // 3,
                        5 + (r + 1) * (h - 10) // 4,
                    ],
                    outline="black",
                )
                draw.text((10 + c * (w - 10) // 3, 8 + r * (h - 10) // 4), str((variant + r * c) % 97), fill="black")
    else:
        r = 10 + variant % (min(w, h) // 3)
        draw.ellipse([w // 2 - r, h // 2 - r, w // 2 + r, h // 2 + r], fill=(220, 60, 60))
    buf = BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def sample_critique(domain: str, rng: random.Random) -> Critique:
    """0–3 discrepancies with long and short descriptions, so target lengths vary as in real data."""
    errors = [
        Discrepancy(
            category=rng.choice(CATEGORIES[domain]),
            severity=rng.choice((1, 2, 3)),
            location=rng.choice(("legend, upper right", "row 2, column 'Revenue'", "top-left circle")),
            description=" ".join(["value differs"] * rng.randint(1, 6)),
        )
        for _ in range(rng.randint(0, 3))
    ]
    return Critique(domain, tuple(errors))


def write_pair_shards(
    out_dir: Path, pairs_per_domain: int = SHARD_PAIRS_PER_DOMAIN, seed: int = 0, candidates_per_reference: int = 1
) -> Path:
    """A shard directory with ``train``/``val`` rows in our layout and ``bench`` rows in the official layout.

    ``candidates_per_reference`` > 1: consecutive pairs share one reference image; the first candidate of each is the
    reference itself (no discrepancies), the others differ and have at least one.
    """
    rng = random.Random(seed)
    writer = ShardWriter(out_dir)
    shared = candidates_per_reference > 1
    for domain in ("chart", "table", "svg"):
        for i in range(pairs_per_domain):
            first = i % candidates_per_reference == 0
            if first:  # the pairs of one reference share its size
                size = (rng.randint(96, 320), rng.randint(80, 240))
            ref = writer.put_image(drawn_png(domain, i - i % candidates_per_reference, size))
            if shared and first:
                cand, critique = ref, Critique(domain)
            else:
                cand = writer.put_image(drawn_png(domain, i + 1 + rng.randint(0, 5), size))
                critique = sample_critique(domain, rng)
                while shared and not critique.errors:
                    critique = sample_critique(domain, rng)
            pid = f"{domain}-s{seed}-{i:07d}"
            split = "val" if i % 4 == 3 else "train"
            row: dict[str, Any] = {
                "id": pid,
                "domain": domain,
                "reference_image": ref,
                "candidate_image": cand,
                "reference_source": f"# reference {domain} {i}",
                "candidate_source": f"# candidate {domain} {i}",
                "critique": critique.to_official(),
                "kind": "perturbed",
                "perturbations": ["drawn"],
                "seed": seed,
            }
            writer.add_row(split, row)
            if i == 0:
                writer.add_row(
                    "bench",
                    {
                        "id": pid + "-bench",
                        "gt_img_path": ref,
                        "pred_img_path": cand,
                        "category": domain,
                        "human_errors": official_human_errors(critique),
                    },
                )
    return out_dir


@pytest.fixture(scope="session")
def pair_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only shard directory shared by the DataModule tests (copy it before corrupting anything)."""
    return write_pair_shards(tmp_path_factory.mktemp("pair-shards"))


@pytest.fixture(scope="session")
def handful_pair_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six training pairs (two per domain, each with its own images) for runs that must learn them by heart."""
    return write_pair_shards(tmp_path_factory.mktemp("handful-pair-shards"), pairs_per_domain=2)


@pytest.fixture(scope="session")
def shared_reference_pair_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six training pairs, two per reference image (the reference itself, and a candidate with discrepancies): only
    the candidate tells the two critiques of a reference apart."""
    return write_pair_shards(tmp_path_factory.mktemp("shared-reference-shards"), 2, candidates_per_reference=2)


@pytest.fixture(scope="session")
def tiny_processor(tiny_model_dir: Path) -> Any:
    from src.models.processor import load_processor

    return load_processor(tiny_model_dir)


@pytest.fixture(scope="session")
def tiny_vlm(tiny_model_dir: Path) -> Any:
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    return model.eval()
