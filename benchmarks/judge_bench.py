"""Judge-benchmark speed: pairs/s of the tiny judge on the CPU, batched against one pair at a time, in one run.

    python benchmarks/judge_bench.py                       # 8 pairs per domain, batch 8, 32 new tokens
    python benchmarks/judge_bench.py --n 16 --batch-size 16 --max-new-tokens 64
    python benchmarks/judge_bench.py --bench data/tiny/bench.jsonl --model models/tiny-qwen3-vl

The same pairs go through the real path of ``tools/bench_judge.py`` (``run_critique_judge`` → ``VisualERMJudge`` →
``HFEngine`` → ``parse_critique``, then matching and aggregation) twice: once one pair per engine call (the baseline)
and once ``--batch-size`` pairs per call. Each run writes to a fresh folder, so nothing is resumed. Printed per mode:
pairs/s, and the wall time split into reading/decoding images (I/O), the judge call (model: prompt building, image
preparation, generate, parsing) and scoring (matching + aggregation). Greedy decoding of a random-weight model almost
never stops early, so every pair generates ``--max-new-tokens`` tokens in both modes: the comparison is like for like.

Without ``--bench``, the pairs are drawn with PIL at realistic sizes (charts 640×480, tables 800×360, SVG 336×336),
each reference with two candidates; without ``--model`` the tiny random Qwen3-VL is built in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402

from src.engines.engine import SamplingSettings  # noqa: E402
from src.eval.bench_run import run_critique_judge  # noqa: E402
from src.eval.judge_bench import BenchPair, load_bench, predictions_for, score_critiques  # noqa: E402
from src.reward.critic_profile import builtin_profile  # noqa: E402

SIZES = {"chart": (640, 480), "table": (800, 360), "svg": (336, 336)}
TARGET_SPEEDUP = 2.0  # batched over one-at-a-time, tiny model on 2 CPU cores (generation is per-step overhead bound)


def draw(domain: str, variant: int, rng: random.Random) -> Image.Image:
    """A picture that differs per variant: bars for charts, a grid of numbers for tables, shapes for SVG."""
    w, h = SIZES[domain]
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    if domain == "chart":
        for i in range(6):
            top = int(h * (0.2 + 0.6 * ((variant * 7 + i * 13) % 10) / 10))
            d.rectangle([40 + i * 95, top, 110 + i * 95, h - 40], fill=(31 + 20 * (variant % 3), 119, 180))
        d.text((w // 2 - 40, 10), f"Series {variant % 4}", fill="black")
    elif domain == "table":
        for r in range(6):
            for c in range(5):
                x0, y0 = 10 + c * 156, 10 + r * 56
                d.rectangle([x0, y0, x0 + 156, y0 + 56], outline="black")
                d.text((x0 + 8, y0 + 20), str((variant * 31 + r * 7 + c * 3) % 997), fill="black")
    else:
        for k in range(3):
            r = 20 + (variant * 11 + k * 17) % 60
            cx, cy = rng.randint(r, w - r), rng.randint(r, h - r)
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(200, 60 + 40 * k, 60))
    return img


def draw_bench(out_dir: Path, n_per_domain: int, seed: int = 0) -> Path:
    """A VC-RewardBench-layout JSONL of drawn pairs; every reference has two candidates of different severity."""
    rng = random.Random(seed)
    rows = []
    for domain in SIZES:
        kinds = {"chart": "data_error", "table": "numeric_error", "svg": "shape_error"}[domain]
        for i in range(n_per_domain):
            ref_index = i // 2
            ref = out_dir / f"{domain}-{ref_index}-ref.png"
            if not ref.exists():
                draw(domain, ref_index, random.Random(ref_index)).save(ref)
            cand = out_dir / f"{domain}-{i}-cand.png"
            draw(domain, ref_index + 1 + i % 2, rng).save(cand)
            errors = [
                {"type": kinds, "category": kinds, "severity": 1 + (i + k) % 3, "location": f"item {k}",
                 "description": f"item {k} differs"}
                for k in range(1 + i % 2)
            ]  # fmt: skip
            rows.append(
                {
                    "id": f"{domain}-{i}",
                    "gt_img_path": ref.name,
                    "pred_img_path": cand.name,
                    "category": domain,
                    "human_errors": errors,
                }
            )
    path = out_dir / "bench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_mode(pairs: list[BenchPair], engine, profile, batch_size: int, out_dir: Path) -> dict[str, float]:  # noqa: ANN001
    from src.reward.judge import VisualERMJudge

    engine.max_batch_size = batch_size
    judge = VisualERMJudge(engine, profile=profile, retries=0, batch_size=batch_size)
    start = time.perf_counter()
    rows, stats = run_critique_judge(pairs, judge, out_dir, batch_size=batch_size, progress=False)
    t_score = time.perf_counter()
    score_critiques(pairs, predictions_for(pairs, rows))
    end = time.perf_counter()
    return {
        "pairs": len(pairs),
        "wall_s": end - start,
        "pairs_per_s": len(pairs) / (end - start),
        "io_s": stats.io_seconds,
        "model_s": stats.judge_seconds,
        "score_s": end - t_score,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="pairs per domain (drawn bench)")
    parser.add_argument("--bench", type=Path, help="an existing bench JSONL instead of drawn pairs")
    parser.add_argument("--model", type=Path, help="a judge checkpoint (default: the tiny random Qwen3-VL)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    import torch

    from src.engines.hf_engine import HFEngine
    from src.models.tiny import build_tiny_qwen3_vl

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bench = args.bench or draw_bench(tmp, args.n)
        pairs = load_bench(bench)
        model_dir = args.model or build_tiny_qwen3_vl(tmp / "tiny")
        engine = HFEngine.from_pretrained(model_dir)
        profile = replace(
            builtin_profile(), sampling=SamplingSettings(temperature=0.0, max_new_tokens=args.max_new_tokens)
        )
        run_mode(pairs[:2], engine, profile, 2, tmp / "warmup")  # first-call costs (allocations) off the clock
        modes = {
            "one pair at a time": run_mode(pairs, engine, profile, 1, tmp / "single"),
            f"batched ({args.batch_size})": run_mode(pairs, engine, profile, args.batch_size, tmp / "batched"),
        }

    print(
        f"judge bench on {len(pairs)} pairs, {args.max_new_tokens} new tokens each, torch threads {torch.get_num_threads()}"
    )
    print(f"{'mode':<22}{'pairs/s':>9}{'wall s':>9}{'I/O s':>8}{'model s':>9}{'score s':>9}{'I/O %':>7}")
    for name, m in modes.items():
        print(
            f"{name:<22}{m['pairs_per_s']:>9.2f}{m['wall_s']:>9.2f}{m['io_s']:>8.2f}{m['model_s']:>9.2f}"
            f"{m['score_s']:>9.3f}{100 * m['io_s'] / m['wall_s']:>7.1f}"
        )
    single, batched = modes.values()
    speedup = batched["pairs_per_s"] / single["pairs_per_s"]
    verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
    print(f"batched / one-at-a-time: {speedup:.2f}x (target >= {TARGET_SPEEDUP}x: {verdict})")
    if args.json:
        args.json.write_text(json.dumps({"modes": modes, "speedup": speedup}, indent=2))


if __name__ == "__main__":
    main()
