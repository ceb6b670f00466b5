"""Every GRPO YAML parses through the real CLI (every class path and argument checked), and the single-GPU 8B config
trains two steps on the CPU with the tiny model swapped in, so configs cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from src.cli import VisualERMCLI

CONFIG_DIR = Path(__file__).parents[2] / "configs" / "grpo"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))


class ValidateOnlyCLI(VisualERMCLI):
    """Parses and type-checks the whole config but instantiates nothing: the 8B configs build vLLM engines, judge
    clients and DINO models that a CPU test machine does not have."""

    def instantiate_classes(self) -> None:  # noqa: D102
        pass


def test_there_are_debug_and_8b_configs() -> None:
    names = {p.name for p in CONFIGS}
    assert {
        "debug.yaml",
        "qwen3vl_8b_chart_lora.yaml",
        "qwen3vl_8b_chart_qlora.yaml",
        "qwen3vl_8b_chart_fsdp.yaml",
    } <= names


@pytest.mark.parametrize("config", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_parses_through_cli(config: Path) -> None:
    first_line = config.read_text().splitlines()[0]
    assert first_line.startswith(f"# python -m src fit --config configs/grpo/{config.name}"), (
        f"{config} must start with the command that runs it"
    )
    cli = ValidateOnlyCLI(args=["--config", str(config)], run=False)
    model = cli.config["model"]
    assert model["class_path"] == "src.stages.grpo.GRPOModule"
    rollout = [c for c in cli.config["trainer"]["callbacks"] if c["class_path"].endswith("RolloutCallback")]
    assert len(rollout) == 1, "a GRPO config needs exactly one RolloutCallback"
    args = rollout[0]["init_args"]
    # dr_grpo's normalizer is the completion budget: the two must not drift apart
    assert model["init_args"]["max_completion_tokens"] == args["sampling"]["max_new_tokens"]
    if not config.name.startswith("debug"):
        assert args["n"] == 8 and model["init_args"]["kl_coef"] == 0.01 and model["init_args"]["entropy_coef"] == 0.0


def test_single_gpu_config_trains_on_the_tiny_model(
    tiny_model_dir: Path, pair_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """qwen3vl_8b_chart_lora.yaml as written (precision, LoRA, checkpointing, loss settings, callbacks), with the tiny
    model, an in-process tiny judge instead of the vLLM server and the HF engine instead of in-process vLLM."""
    config = yaml.safe_load((CONFIG_DIR / "qwen3vl_8b_chart_lora.yaml").read_text())
    config["trainer"].update(accelerator="cpu", max_steps=2, accumulate_grad_batches=1, default_root_dir=str(tmp_path))
    rollout = config["trainer"]["callbacks"][0]["init_args"]
    rollout.update(engine=None, weight_sync="module", n=2)
    rollout["sampling"]["max_new_tokens"] = 8
    rollout["render_pool"]["init_args"]["workers"] = 1
    rollout["reward"]["init_args"]["engine"] = {
        "class_path": "src.testing.engines.tiny_judge_engine",
        "init_args": {"name_or_path": str(tiny_model_dir)},
    }
    model = config["model"]["init_args"]
    model["loader"]["name_or_path"] = str(tiny_model_dir)
    model["max_completion_tokens"] = 8
    config["data"]["init_args"].update(data_dir=str(pair_shards), num_workers=0, batch_size=1)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    cli = VisualERMCLI(args=["fit", "--config", str(path)])
    assert cli.trainer.global_step == 2
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])
    assert not any(workdir.iterdir()), "the run must write under its default_root_dir only"
