"""Every GRPO run parses through the real CLI exactly as its YAML's first line says to start it (the 8B runs are the
shared ``qwen3vl_8b_base.yaml`` plus one small file), the values the CLI links follow their sources, and the
single-GPU 8B run trains two steps on the CPU with the tiny model swapped in, so configs cannot drift from the code."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import torch
import yaml
from jsonargparse import Namespace

from src.cli import VisualERMCLI, class_path, rollout_configs
from src.engines.vllm_engine import VLLMEngine

ROOT = Path(__file__).parents[2]
CONFIG_DIR = ROOT / "configs" / "grpo"
BASE = CONFIG_DIR / "qwen3vl_8b_base.yaml"
RUNS = sorted(p for p in CONFIG_DIR.glob("*.yaml") if p != BASE)


class ValidateOnlyCLI(VisualERMCLI):
    """Parses and type-checks the whole config but instantiates nothing: the 8B configs build vLLM engines, judge
    clients and DINO models that a CPU test machine does not have."""

    def instantiate_classes(self) -> None:  # noqa: D102
        pass


def command_configs(config: Path) -> list[Path]:
    """The ``--config`` files of the command on the YAML's first line, in order."""
    first_line = config.read_text().splitlines()[0]
    assert first_line.startswith("# python -m src fit --config "), f"{config} must start with the command that runs it"
    words = shlex.split(first_line[2:])
    return [ROOT / words[i + 1] for i, word in enumerate(words) if word == "--config"]


def the_rollout(config: Namespace) -> Namespace:
    rollouts = rollout_configs(config.get("rollout"), config["trainer"]["callbacks"])
    assert len(rollouts) == 1, "a GRPO config needs exactly one RolloutCallback"
    return rollouts[0].init_args


def test_there_are_debug_and_8b_configs() -> None:
    names = {p.name for p in RUNS}
    assert {
        "debug.yaml",
        "qwen3vl_8b_chart_lora.yaml",
        "qwen3vl_8b_svg_lora.yaml",
        "qwen3vl_8b_table_lora.yaml",
        "qwen3vl_8b_chart_lora_dino.yaml",
        "qwen3vl_8b_chart_qlora.yaml",
        "qwen3vl_8b_chart_fsdp.yaml",
    } <= names


def test_every_8b_run_is_the_base_plus_its_own_file() -> None:
    for config in RUNS:
        if config.name.startswith("qwen3vl_8b_"):
            assert command_configs(config) == [BASE, config], f"{config.name}: its first line must compose the base"


@pytest.mark.parametrize("config", RUNS, ids=[p.name for p in RUNS])
def test_config_parses_through_cli(config: Path) -> None:
    configs = command_configs(config)
    assert configs[-1] == config, f"{config.name}: its own command must end with --config {config.name}"
    cli = ValidateOnlyCLI(args=[arg for path in configs for arg in ("--config", str(path))], run=False)
    model = cli.config["model"]
    assert model["class_path"] == "src.stages.grpo.GRPOModule"
    rollout = the_rollout(cli.config)
    # linked by the CLI: dr_grpo's normalizer is the sampling budget; the judge sees reference and render at one size
    assert (
        model["init_args"]["max_completion_tokens"]
        == rollout["sampling"].get("init_args", rollout["sampling"])["max_new_tokens"]
    )
    assert rollout["max_side"] == cli.config["data"]["init_args"]["max_image_side"]
    engine = rollout["engine"]
    if engine is not None and engine["class_path"] == class_path(VLLMEngine):
        assert engine["init_args"]["model"] == model["init_args"]["loader"].name_or_path
    if config.name.startswith("qwen3vl_8b_"):  # the paper's recipe; debug and mini are sized for a CPU
        assert rollout["n"] == 8 and model["init_args"]["kl_coef"] == 0.01 and model["init_args"]["entropy_coef"] == 0.0


def test_linked_values_follow_their_sources(tmp_path: Path) -> None:
    """One setting changed in a third file moves every value linked to it; a served policy keeps its own name."""
    override = tmp_path / "override.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "rollout": {"init_args": {"sampling": {"max_new_tokens": 77}}},
                "model": {"init_args": {"loader": {"name_or_path": "/models/my-base"}}},
                "data": {"init_args": {"max_image_side": 512}},
            }
        )
    )
    for run, engine_model in (("qwen3vl_8b_chart_lora.yaml", "/models/my-base"), ("qwen3vl_8b_chart_fsdp.yaml", None)):
        args = ["--config", str(BASE), "--config", str(CONFIG_DIR / run), "--config", str(override)]
        config = ValidateOnlyCLI(args=args, run=False).config
        rollout = the_rollout(config)
        assert config["model"]["init_args"]["max_completion_tokens"] == 77
        assert rollout["max_side"] == 512
        assert rollout["engine"]["init_args"]["model"] == engine_model


def test_a_grpo_run_without_exactly_one_rollout_is_refused(tmp_path: Path) -> None:
    debug = yaml.safe_load((CONFIG_DIR / "debug.yaml").read_text())
    second = tmp_path / "second_rollout.yaml"  # debug.yaml lists one in trainer.callbacks; this adds one more
    second.write_text(yaml.safe_dump({"rollout": debug["trainer"]["callbacks"][0]}))
    with pytest.raises(ValueError, match="exactly one RolloutCallback.*found 2"):
        ValidateOnlyCLI(args=["--config", str(CONFIG_DIR / "debug.yaml"), "--config", str(second)], run=False)
    debug["trainer"]["callbacks"] = debug["trainer"]["callbacks"][1:]
    none = tmp_path / "no_rollout.yaml"
    none.write_text(yaml.safe_dump(debug))
    with pytest.raises(ValueError, match="exactly one RolloutCallback.*found 0"):
        ValidateOnlyCLI(args=["--config", str(none)], run=False)


def test_single_gpu_config_trains_on_the_tiny_model(
    tiny_model_dir: Path, pair_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """qwen3vl_8b_base.yaml + qwen3vl_8b_chart_lora.yaml as written (precision, LoRA, checkpointing, loss settings,
    callbacks), and a third file with the tiny model, an in-process tiny judge instead of the vLLM server and the HF
    engine instead of in-process vLLM; max_completion_tokens follows the sampling budget through the CLI's link."""
    tiny = {
        "trainer": {
            "accelerator": "cpu",
            "max_steps": 2,
            "accumulate_grad_batches": 1,
            "default_root_dir": str(tmp_path),
        },
        "rollout": {
            "init_args": {
                "engine": None,
                "weight_sync": "module",
                "n": 2,
                "sampling": {"max_new_tokens": 8},
                "render_pool": {"init_args": {"workers": 1}},
                "reward": {
                    "init_args": {
                        "engine": {
                            "class_path": "src.testing.engines.tiny_judge_engine",
                            "init_args": {"name_or_path": str(tiny_model_dir)},
                        }
                    }
                },
            }
        },
        "model": {"init_args": {"loader": {"name_or_path": str(tiny_model_dir)}}},
        "data": {"init_args": {"data_dir": str(pair_shards), "num_workers": 0, "batch_size": 1}},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    configs = [BASE, CONFIG_DIR / "qwen3vl_8b_chart_lora.yaml", path]
    cli = VisualERMCLI(args=["fit", *(arg for config in configs for arg in ("--config", str(config)))])
    assert cli.model.max_completion_tokens == 8
    assert cli.trainer.global_step == 2
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])
    assert not any(workdir.iterdir()), "the run must write under its default_root_dir only"
