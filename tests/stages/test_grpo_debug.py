"""``configs/grpo/debug.yaml`` end to end through the real CLI: rollouts render, the in-process tiny judge scores them,
rewards reach a finite loss, the adapters move, and each step's completions come from the weights of the step before.
Also: a killed run resumes with the same step, optimizer state and data position, and re-syncs the engine first.

A random tiny policy writes noise that never renders (every reward 0, nothing to learn), so the policy here is first
taught, by a few SFT steps, to answer with one of four small SVG documents: sampled at temperature 1 some of its
answers render and some break, which gives the groups reward variance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from lightning.pytorch import Callback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from src.cli import VisualERMCLI
from src.stages.grpo_rollout import RolloutCallback
from src.testing.tiny_policy import teach_tiny_svg_policy

DEBUG_CONFIG = Path(__file__).parents[2] / "configs" / "grpo" / "debug.yaml"


@pytest.fixture(scope="module")
def svg_policy_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model after 50 SFT steps on the two SVG answers (loss ~0.04: it samples each about half the time)."""
    return teach_tiny_svg_policy(tiny_model_dir, tmp_path_factory.mktemp("svg-policy"), steps=50)


def debug_config(tmp_path: Path, policy_dir: Path, judge_dir: Path, **trainer: Any) -> Path:
    """The debug YAML with the SVG policy, the tiny judge and the test's data swapped in."""
    config = yaml.safe_load(DEBUG_CONFIG.read_text())
    config["model"]["init_args"]["loader"]["name_or_path"] = str(policy_dir)
    rollout = config["trainer"]["callbacks"][0]["init_args"]
    rollout["reward"]["init_args"]["engine"]["init_args"]["name_or_path"] = str(judge_dir)
    config["trainer"].update(trainer)
    path = tmp_path / "debug.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class RecordSteps(Callback):
    """What each step generated with and trained on."""

    def __init__(self) -> None:
        self.versions: list[int] = []
        self.steps: list[int] = []
        self.rewards: list[list[list[float]]] = []
        self.prompt_ids: list[list[str]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        rollout = next(c for c in trainer.callbacks if isinstance(c, RolloutCallback))
        self.versions.append(rollout.engine.weights_version)  # after its own check: the weights that generated
        self.steps.append(trainer.global_step)
        self.rewards.append(batch["rollout"].rewards.tolist())
        self.prompt_ids.append([r["id"] for r in batch["records"]])


def _args(config: Path, root: Path, shards: Path, *extra: str) -> list[str]:
    return [
        "--config",
        str(config),
        "--trainer.default_root_dir",
        str(root),
        "--data.init_args.data_dir",
        str(shards),
        "--data.init_args.domains",
        '["svg"]',
        *extra,
    ]


def _fit(args: list[str], *callbacks: Callback, ckpt_path: str | None = None) -> VisualERMCLI:
    cli = VisualERMCLI(args=args, run=False)
    cli.trainer.callbacks.extend(callbacks)  # after RolloutCallback: they see the filled batch
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path)
    return cli


class CrashAt(Callback):
    """A killed run: raises before the batch of step ``step`` (the checkpoint of the step before is on disk)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            raise RuntimeError("simulated crash")


@pytest.fixture(scope="module")
def debug_run(
    svg_policy_dir: Path, tiny_model_dir: Path, pair_shards: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[VisualERMCLI, RecordSteps, Path]:
    """Three uninterrupted steps of the debug config (shared by the end-to-end and resume tests)."""
    root = tmp_path_factory.mktemp("grpo-debug")
    config = debug_config(root, svg_policy_dir, tiny_model_dir, max_steps=3)
    recorder = RecordSteps()
    cli = _fit(_args(config, root / "run", pair_shards), recorder)
    return cli, recorder, config


def test_debug_config_runs_end_to_end(debug_run: tuple[VisualERMCLI, RecordSteps, Path]) -> None:
    cli, recorder, _ = debug_run
    # the engine generated step k's completions with the weights of step k (pushed after step k-1's update)
    assert recorder.versions == recorder.steps == [0, 1, 2]
    rewards = torch.tensor(recorder.rewards)  # [steps, prompts, n]
    assert rewards.shape == (3, 2, 4)
    assert (rewards > 0).any(), "no completion rendered and scored: rewards never flowed"
    assert (rewards.amax(-1) > rewards.amin(-1)).any(), "every group had equal rewards: nothing to learn from"
    metrics = cli.trainer.callback_metrics
    assert torch.isfinite(metrics["train/loss"])
    assert 0 <= metrics["rollout/render_ok"] <= 1 and metrics["rollout/seconds_generate"] > 0
    lora_b = [p for n, p in cli.model.named_parameters() if "lora_B" in n]
    assert lora_b and any((p != 0).any() for p in lora_b), "the adapters never moved from their zero init"
    log_dir = Path(cli.trainer.log_dir)
    assert (log_dir / "adapter" / "adapter_config.json").is_file()
    samples = sorted(log_dir.glob("rollout_samples/*/samples.jsonl"))
    assert len(samples) == 3
    rows = [json.loads(line) for path in samples for line in path.read_text().splitlines()]
    assert [r["weights_version"] for r in rows if r["rollout"] == 0] == [0, 1, 2]
    assert any(r["rendered"] and r["critique"] for r in rows), "no rendered sample carries the judge's critique"
    events = EventAccumulator(str(log_dir), size_guidance={"images": 0})
    events.Reload()
    assert "rollout/samples/rank0/g0" in events.Tags()["images"], "samples did not reach TensorBoard as images"


def test_killed_run_resumes_with_step_optimizer_data_and_engine(
    debug_run: tuple[VisualERMCLI, RecordSteps, Path], pair_shards: Path, tmp_path: Path
) -> None:
    _, full, config = debug_run
    root = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(_args(config, root, pair_shards), CrashAt(2))
    checkpoint = next(root.rglob("last.ckpt"))
    resumed = RecordSteps()
    cli = _fit(_args(config, root, pair_shards), resumed, ckpt_path=str(checkpoint))
    assert resumed.steps == [2]
    assert resumed.versions == [2], "the engine was not re-synced to the checkpoint's weights before generating"
    assert resumed.prompt_ids == full.prompt_ids[2:], "the data position was not restored"
    optimizer = cli.trainer.optimizers[0]
    assert all(int(state["step"]) == 3 for state in optimizer.state.values())  # 2 restored + 1 resumed step
