"""The README's main job: a tiny end-to-end Visual-ERM run on the CPU, then a summary a person can read.

    python tools/demo.py                 # what `make demo` runs (LoRA + trained head/embeddings, 450 steps)
    python tools/demo.py --full          # full fine-tuning instead
    python tools/demo.py --config configs/reward_sft/debug.yaml --root runs/demo

It synthesizes a handful of labelled pairs through the sandboxed renderer pool (if missing), builds the tiny
random-weight Qwen3-VL (if missing), trains the critic on them through the real LightningCLI
(``configs/reward_sft/tiny_overfit.yaml``), and prints where everything went, the metrics and one pair's critique
as the trained model writes it (greedy) next to the true one. The pairs are the ones it trained on: this shows that
the SFT path learns (parse rate and F1 against the true labels), not that a tiny model generalizes.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a script from a checkout, before `pip install -e .`
    sys.path.insert(0, str(ROOT))

from src.cli import main as cli_main  # noqa: E402


def last_metrics(metrics_csv: Path) -> dict[str, float]:
    """The last logged value of every metric in Lightning's CSV log."""
    latest: dict[str, float] = {}
    first_loss: float | None = None
    with open(metrics_csv, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if value not in ("", None) and key not in ("epoch", "step"):
                    latest[key] = float(value)
                    if key == "train/loss" and first_loss is None:
                        first_loss = float(value)
    if first_loss is not None:
        latest["train/loss (first step)"] = first_loss
    return latest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "reward_sft" / "tiny_overfit.yaml"))
    parser.add_argument("--root", default="runs/demo", help="trainer.default_root_dir")
    parser.add_argument("--full", action="store_true", help="full fine-tuning instead of the config's LoRA")
    args = parser.parse_args()

    started = time.perf_counter()
    extra = ["--model.init_args.loader", '{"lora": null}'] if args.full else []
    cli = cli_main(["fit", "--config", args.config, "--trainer.default_root_dir", args.root, *extra])
    seconds = time.perf_counter() - started
    trainer, datamodule = cli.trainer, cli.datamodule
    log_dir = Path(trainer.log_dir or args.root)

    print("\n=== Visual-ERM demo ===")
    data_dir = Path(datamodule.data_dir)
    summary_path = data_dir / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        print(
            f"data:       {data_dir}  pairs per domain {summary.get('pairs')}  drop reasons {summary.get('drop_reasons')}"
        )
    print(
        f"model:      {cli.model.loader.name_or_path}  ({sum(p.numel() for p in cli.model.vlm.parameters()):,} params)"
    )
    print(f"run:        {log_dir}  ({trainer.global_step} optimizer steps, {seconds:.0f} s with data and model setup)")
    print(f"  config    {log_dir / 'config.yaml'}")
    if cli.model.loader.lora is not None:
        print(f"  adapter   {log_dir / 'adapter'} (peft format; merge with tools/merge_lora.py)")
    metrics_csv = log_dir / "metrics.csv"
    if metrics_csv.exists():
        for name, value in sorted(last_metrics(metrics_csv).items()):
            print(f"  {name:<24} {value:.4f}")
    if datamodule.val_pairs:
        show_one_critique(cli.model, datamodule)


def show_one_critique(model: Any, datamodule: Any) -> None:
    """The trained critic's greedy answer for the first generation batch's first pair, next to the true one."""
    batch = next((b for b in datamodule.val_dataloader() if b.get("prompt_inputs") is not None), None)
    if batch is None:
        return
    model.eval()
    text = model.generate_critiques(batch["prompt_inputs"])[0]
    pair = next(p for p in datamodule.val_pairs if p.id == batch["ids"][0])
    print(f"example pair ({pair.domain}): reference {pair.reference_image}")
    print(f"                     candidate {pair.candidate_image}")
    print(f"true critique:    {pair.target}")
    print(f"trained critique: {text}")


if __name__ == "__main__":
    main()
