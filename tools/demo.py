"""The README's main job: a tiny end-to-end Visual-ERM run on the CPU, then a summary a person can read.

    python tools/demo.py                 # what `make demo` runs
    python tools/demo.py --config configs/reward_sft/debug.yaml --root runs/demo

It synthesizes a small labelled set through the sandboxed renderer pool (if missing), builds the tiny random-weight
Qwen3-VL (if missing), trains the critic for a few steps through the real LightningCLI, and prints where everything
went, the metrics, and one training pair with its true critique. The tiny model is random, so its own critiques are
noise: the point is that every stage runs, not the numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

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
    parser.add_argument("--config", default=str(ROOT / "configs" / "reward_sft" / "debug.yaml"))
    parser.add_argument("--root", default="runs/demo", help="trainer.default_root_dir")
    args = parser.parse_args()

    cli = cli_main(["fit", "--config", args.config, "--trainer.default_root_dir", args.root])
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
    print(f"run:        {log_dir}  ({trainer.global_step} optimizer steps)")
    print(f"  config    {log_dir / 'config.yaml'}")
    print(f"  adapter   {log_dir / 'adapter'} (peft format; merge with tools/merge_lora.py)")
    metrics_csv = log_dir / "metrics.csv"
    if metrics_csv.exists():
        for name, value in sorted(last_metrics(metrics_csv).items()):
            print(f"  {name:<24} {value:.4f}")
    if datamodule.train_pairs:
        pair = datamodule.train_pairs[0]
        print(f"example pair ({pair.domain}): reference {pair.reference_image}")
        print(f"                     candidate {pair.candidate_image}")
        print(f"true critique: {pair.target}")


if __name__ == "__main__":
    main()
