"""The critic learns: the tiny Qwen3-VL, trained through the real CLI and ``configs/reward_sft/tiny_overfit.yaml`` on a
handful of pairs, reproduces their critiques under greedy decoding, with LoRA (plus a trained head and embeddings)
and with full fine-tuning. A broken update (no optimizer step, a detached loss) leaves the random model writing
noise: parse rate 0."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.cli import main

TINY_OVERFIT = Path(__file__).parents[2] / "configs" / "reward_sft" / "tiny_overfit.yaml"


@pytest.mark.parametrize(
    "variant",
    [pytest.param("full", id="full"), pytest.param("lora", id="lora", marks=pytest.mark.slow)],
)
def test_the_critic_reproduces_the_critiques_it_was_trained_on(
    variant: str, tmp_path: Path, tiny_model_dir: Path, handful_pair_shards: Path
) -> None:
    args = ["fit", "--config", str(TINY_OVERFIT), "--trainer.default_root_dir", str(tmp_path)]
    args += [
        "--model.init_args.loader.name_or_path",
        str(tiny_model_dir),
        "--data.init_args.data_dir",
        str(handful_pair_shards),
    ]
    if variant == "full":
        args += ["--model.init_args.loader", '{"lora": null}']  # the one flag that switches to full fine-tuning
    cli = main(args)
    metrics = cli.trainer.callback_metrics
    assert (cli.model.loader.lora is None) == (variant == "full")
    assert int(metrics["val/generated"]) == 6
    assert float(metrics["val/parse_rate"]) == 1.0
    assert float(metrics["val/f1"]) >= 0.9
    assert torch.isfinite(metrics["val/loss"]) and float(metrics["val/loss"]) < 0.5
