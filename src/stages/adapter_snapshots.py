"""``AdapterSnapshots``: the LoRA adapter every ``every_n_steps`` optimizer steps, each in a folder of its own.

Lightning's checkpoints resume a run; these are for scoring it part-way. A GRPO run's held-out score against its steps
needs the policy as it was at step k, in a form the evaluation tools load (a peft adapter + processor, as the stage
writes at the end of fit, mergeable with ``tools/merge_lora.py`` or hot-loaded by vLLM), without stopping the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L

from src.models.loading import save_adapter


class AdapterSnapshots(L.Callback):
    """Write ``<dirpath>/step_<k>`` (adapter + processor) after every ``every_n_steps``-th optimizer step.

    Args:
        every_n_steps: optimizer steps between snapshots (the last step is the stage's own adapter, not repeated here
            unless it falls on the interval).
        dirpath: where the ``step_<k>`` folders go; default ``<log_dir>/snapshots``.
    """

    def __init__(self, every_n_steps: int, dirpath: str | None = None) -> None:
        if every_n_steps < 1:
            raise ValueError(f"AdapterSnapshots: every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.dirpath = dirpath
        self._written_at = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not getattr(pl_module, "is_peft", False):
            raise TypeError("AdapterSnapshots: the module trains no LoRA adapter (enable loader.lora)")

    def folder(self, trainer: L.Trainer) -> Path:
        root = self.dirpath or str(Path(trainer.log_dir or trainer.default_root_dir) / "snapshots")
        return Path(root) / f"step_{trainer.global_step}"

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        # global_step counts optimizer steps; with gradient accumulation a batch may end without one.
        if step == 0 or step % self.every_n_steps or step == self._written_at:
            return
        self._written_at = step
        out = self.folder(trainer)  # a collective (log_dir broadcasts), so every rank asks; rank 0 writes
        if trainer.is_global_zero:
            save_adapter(pl_module.model, out, getattr(pl_module, "processor", None))  # type: ignore[arg-type]
