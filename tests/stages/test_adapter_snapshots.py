"""AdapterSnapshots: the adapter as it was at step k, written during a real fit through the CLI."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from src.cli import main
from src.stages.adapter_snapshots import AdapterSnapshots

DEBUG_CONFIG = Path(__file__).parents[2] / "configs" / "reward_sft" / "debug.yaml"


def _fit(root: Path, model_dir: Path, data_dir: Path, snapshots: AdapterSnapshots, *extra: str) -> object:
    args = [
        "--config", str(DEBUG_CONFIG), "--trainer.default_root_dir", str(root),
        "--model.init_args.loader.name_or_path", str(model_dir), "--data.init_args.data_dir", str(data_dir),
        "--trainer.limit_val_batches", "0", "--trainer.max_steps", "4", *extra,
    ]  # fmt: skip
    cli = main(args, run=False)
    cli.trainer.callbacks.append(snapshots)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli


def test_snapshots_hold_the_adapter_of_their_step(tmp_path: Path, tiny_model_dir: Path, synth_dir: Path) -> None:
    cli = _fit(tmp_path, tiny_model_dir, synth_dir, AdapterSnapshots(2, str(tmp_path / "snaps")))
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir()) == ["step_2", "step_4"]
    final = load_file(Path(cli.trainer.log_dir) / "adapter" / "adapter_model.safetensors")  # type: ignore[attr-defined]
    at = {k: load_file(tmp_path / "snaps" / k / "adapter_model.safetensors") for k in ("step_2", "step_4")}
    assert final.keys() == at["step_4"].keys()
    assert all(torch.equal(final[k], at["step_4"][k]) for k in final), "the last snapshot is not the final adapter"
    assert any(not torch.equal(final[k], at["step_2"][k]) for k in final), "step 2's snapshot holds later weights"
    assert (tmp_path / "snaps" / "step_2" / "adapter_config.json").exists()
    assert (tmp_path / "snaps" / "step_2" / "processor_config.json").exists()  # loadable on its own


def test_snapshots_refuse_a_run_without_lora() -> None:
    """Full fine-tuning has no adapter to snapshot: said at the start of training, not after the first interval."""
    full = SimpleNamespace(is_peft=False)
    with pytest.raises(TypeError, match="no LoRA adapter"):
        AdapterSnapshots(2).on_train_start(None, full)  # type: ignore[arg-type]


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="every_n_steps"):
        AdapterSnapshots(0)
