"""The stage on real compilers and devices: inductor-compiled blocks on the CPU (slow), and the debug config on a CUDA
GPU in bf16 (gpu; CI has none, so these skip there)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.cli import main
from src.models.loading import LoraSettings, VLMLoader, load_vlm_model
from src.stages.sft import IGNORE_INDEX, answer_token_loss, compile_repeated_blocks

DEBUG_CONFIG = Path(__file__).parents[2] / "configs" / "reward_sft" / "debug.yaml"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _batch(device: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    torch.manual_seed(0)
    input_ids = torch.randint(10, 200, (2, 32), device=device)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[:, 20:] = input_ids[:, 20:]
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}, labels


def _compiled_matches_eager(model_dir: Path, device: str, dtype: str, tol: float, checkpointing: bool = False) -> None:
    loader = VLMLoader(
        name_or_path=str(model_dir), dtype=dtype, lora=LoraSettings(dropout=0.0), gradient_checkpointing=checkpointing
    )
    model = load_vlm_model(loader).to(device).train()
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(0.0, 0.05)
    inputs, labels = _batch(device)
    eager = answer_token_loss(model, inputs, labels)
    eager.backward()
    eager_grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    model.zero_grad()
    compile_repeated_blocks(model)  # inductor
    compiled = answer_token_loss(model, inputs, labels)
    compiled.backward()
    torch.testing.assert_close(compiled, eager, rtol=tol, atol=tol)
    for got, want in zip((p.grad for p in model.parameters() if p.requires_grad), eager_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=tol, atol=tol)


@pytest.mark.slow
@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "checkpointed"])
def test_inductor_compiled_blocks_train_like_eager_on_cpu(tiny_model_dir: Path, checkpointing: bool) -> None:
    """Compiled blocks inside HF's gradient checkpointing too (the 8B configs use both)."""
    _compiled_matches_eager(tiny_model_dir, "cpu", "float32", 1e-4, checkpointing)


@pytest.mark.gpu
@needs_cuda
def test_inductor_compiled_blocks_train_like_eager_on_cuda(tiny_model_dir: Path) -> None:
    _compiled_matches_eager(tiny_model_dir, "cuda", "float32", 1e-3)


@pytest.mark.gpu
@needs_cuda
def test_debug_config_trains_in_bf16_on_one_gpu(tmp_path: Path, tiny_model_dir: Path, pair_shards: Path) -> None:
    """The 8B configs' precision and device settings on the tiny model: bf16 weights, fused AdamW, finite loss.

    Drawn pairs (``pair_shards``), not synthesized ones: the GPU machine has no browser or cairosvg to render with.
    """
    cli = main(
        [
            "fit",
            "--config",
            str(DEBUG_CONFIG),
            "--trainer.default_root_dir",
            str(tmp_path),
            "--trainer.accelerator",
            "gpu",
            "--trainer.precision",
            "bf16-true",
            "--trainer.max_steps",
            "2",
            "--trainer.limit_val_batches",
            "1",
            "--trainer.val_check_interval",
            "2",
            "--model.init_args.loader.name_or_path",
            str(tiny_model_dir),
            "--model.init_args.loader.dtype",
            "bfloat16",
            "--data.init_args.data_dir",
            str(pair_shards),
        ]
    )
    assert cli.trainer.global_step == 2
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])
    assert next(cli.model.vlm.parameters()).is_cuda
    assert cli.trainer.optimizers[0].defaults["fused"] is True


RANK_PROBE = '''
import json
import os

import torch.distributed as dist
from lightning.pytorch import Callback


class RecordPairs(Callback):
    """Writes, per rank, the pair ids it trained and validated on, its step count and the process group backend."""

    def __init__(self) -> None:
        self.train, self.val = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.train += batch["ids"]

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if not trainer.sanity_checking:
            self.val += batch["ids"]

    def on_fit_end(self, trainer, pl_module):
        record = {"world": trainer.world_size, "train": self.train, "val": self.val, "step": trainer.global_step,
                  "backend": dist.get_backend()}
        with open(os.path.join(os.environ["RANK_PROBE_DIR"], f"rank{trainer.global_rank}.json"), "w") as f:
            json.dump(record, f)
'''


@pytest.mark.slow
def test_debug_config_trains_validates_and_checkpoints_under_two_process_ddp(
    tmp_path: Path, tiny_model_dir: Path, pair_shards: Path
) -> None:
    """`strategy=ddp` on the CPU (gloo), two processes: each rank trains and validates on its own pairs, the
    generation metrics and the checkpoint come out, and no collective hangs (the run has a deadline)."""
    import csv
    import json
    import os
    import subprocess
    import sys

    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "rank_probe.py").write_text(RANK_PROBE)
    repo = Path(__file__).parents[2]
    cmd = [sys.executable, "-m", "src", "fit", "--config", str(DEBUG_CONFIG)]
    cmd += ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.default_root_dir", str(tmp_path / "run")]
    cmd += ["--trainer.callbacks+=rank_probe.RecordPairs"]
    cmd += ["--model.init_args.loader.name_or_path", str(tiny_model_dir), "--data.init_args.data_dir", str(pair_shards)]
    cmd += ["--data.init_args.val_split", "val", "--data.init_args.val_generate_pairs", "4"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(probe), str(repo)]), "RANK_PROBE_DIR": str(probe)}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in range(2)]
    assert all(r["world"] == 2 and r["backend"] == "gloo" and r["step"] == 4 for r in ranks)
    assert len(ranks[0]["train"]) == len(ranks[1]["train"]) == 8  # 4 steps x 2 pairs
    assert not set(ranks[0]["train"]) & set(ranks[1]["train"])
    assert ranks[0]["val"] and not set(ranks[0]["val"]) & set(ranks[1]["val"])
    log_dir = next((tmp_path / "run").rglob("metrics.csv")).parent
    with open(log_dir / "metrics.csv") as f:
        logged = {k for row in csv.DictReader(f) for k, v in row.items() if v}
    assert {"train/loss", "val/loss", "val/parse_rate", "val/f1"} <= logged
    last = torch.load(next((tmp_path / "run").rglob("last.ckpt")), map_location="cpu", weights_only=False)
    assert last["global_step"] == 4 and last["state_dict"]
