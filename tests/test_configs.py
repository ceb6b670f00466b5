"""Every YAML under configs/ parses through the real CLI, so configs cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch import LightningModule

from src.cli import VisualERMCLI

# configs/grpo/ hold GRPO runs (callbacks that build engines and a judge): tests/stages/test_grpo_configs.py parses them.
CONFIGS = sorted(p for p in (Path(__file__).parents[1] / "configs").rglob("*.yaml") if p.parent.name != "grpo")


class ParseOnlyCLI(VisualERMCLI):
    """Parses and instantiates model and data, but no Trainer: GPU/FSDP configs must parse on a CPU-only machine."""

    def instantiate_trainer(self, **kwargs):  # noqa: D102
        return None


def test_there_are_configs() -> None:
    assert any(p.parent.name == "reward_sft" and p.name == "debug.yaml" for p in CONFIGS)


@pytest.mark.parametrize("config", CONFIGS, ids=[str(p.relative_to(p.parents[1])) for p in CONFIGS])
def test_config_parses_through_cli(config: Path) -> None:
    first_line = config.read_text().splitlines()[0]
    assert first_line.startswith("# python -m src "), f"{config} must start with the command that runs it"
    cli = ParseOnlyCLI(args=["--config", str(config)], run=False)
    assert isinstance(cli.model, LightningModule)
    if config.parent.name == "reward_sft":
        assert cli.model.__class__.__name__ == "VLMSFT"
        assert cli.model.loader.name_or_path
    assert cli.datamodule is not None


def _needs_gpu_strategy(config: Path) -> bool:
    strategy = (yaml.safe_load(config.read_text()).get("trainer") or {}).get("strategy")
    return isinstance(strategy, dict) and "FSDP" in strategy.get("class_path", "")


RUNNABLE = [p for p in CONFIGS if p.parent.name == "reward_sft" and p.name != "debug.yaml"]


@pytest.mark.parametrize("config", RUNNABLE, ids=[p.name for p in RUNNABLE])
def test_gpu_config_trains_on_the_tiny_model(
    config: Path, tiny_model_dir: Path, pair_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real configs, not only their parse: each trains and validates two batches with the tiny model swapped in
    (on the CPU, keeping the config's precision, LoRA/QLoRA, checkpointing and callbacks). FSDP configs cannot: Lightning
    runs FSDP on GPUs only, so they are parsed above and nothing more here."""
    if _needs_gpu_strategy(config):
        pytest.skip("Lightning's FSDPStrategy needs a GPU accelerator")
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    cli = VisualERMCLI(
        args=[
            "fit",
            "--config",
            str(config),
            "--trainer.accelerator",
            "cpu",
            "--trainer.fast_dev_run",
            "2",
            "--trainer.default_root_dir",
            str(tmp_path),
            "--model.init_args.loader.name_or_path",
            str(tiny_model_dir),
            "--model.init_args.max_new_tokens",
            "8",
            "--data.init_args.data_dir",
            str(pair_shards),
            "--data.init_args.num_workers",
            "0",
        ]
    )
    assert cli.trainer.global_step >= 1  # gradient accumulation: the two batches may make a single optimizer step
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])
    assert "val/parse_rate" in cli.trainer.callback_metrics
    assert not any(workdir.iterdir()), "a fast_dev_run must not write into the working directory"


def test_lora_to_full_fine_tuning_is_one_flag() -> None:
    """jsonargparse cannot set a nested dataclass field to null (`--model.init_args.loader.lora null` fails inside
    it); merging `{"lora": null}` into the loader can, and keeps every other loader setting of the YAML."""
    config = Path(__file__).parents[1] / "configs" / "reward_sft" / "tiny_overfit.yaml"
    lora = ParseOnlyCLI(args=["--config", str(config)], run=False).model.loader
    full = ParseOnlyCLI(args=["--config", str(config), "--model.init_args.loader", '{"lora": null}'], run=False)
    assert lora.lora is not None and full.model.loader.lora is None
    assert {**vars(full.model.loader), "lora": lora.lora} == vars(lora)
