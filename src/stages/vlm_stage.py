"""What every stage that trains a VLM shares, so that SFT and GRPO cannot drift apart on it.

``setup`` builds the tiny test model when asked and missing, loads the processor once and hands it to the DataModule
(``connect``: a DataModule cannot know the tokenizer or image processor when it is built); ``configure_model`` loads
the model inside the strategy's context (FSDP shards as the weights materialize); AdamW runs over the trainable
weights; a LoRA run's checkpoints hold its adapters only and are checked key by key on load; the adapter (or, for
full fine-tuning, the model, when a stage asks) is written at the end of fit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch

from src.models.loading import VLMLoader, load_vlm_model, load_vlm_processor, save_adapter
from src.models.tiny import build_tiny_qwen3_vl


class AdapterCheckpointError(KeyError):
    """A checkpoint lacks adapter weights the model trains."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def check_adapter_state(model: torch.nn.Module, state_dict: dict[str, Any], prefix: str = "") -> None:
    """Raise ``AdapterCheckpointError`` naming the trainable weights of ``model`` missing from ``state_dict``."""
    trainable = [f"{prefix}{name}" for name, p in model.named_parameters() if p.requires_grad]
    missing = [name for name in trainable if name not in state_dict]
    if missing:
        raise AdapterCheckpointError(
            f"checkpoint lacks {len(missing)} of {len(trainable)} adapter weights (first: {missing[0]}); it was saved "
            "with other LoRA settings or key names, and loading it would leave those weights untrained"
        )


def is_peft(model: torch.nn.Module | None) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


class VLMStage(L.LightningModule):
    """The base of ``VLMSFT`` and ``GRPOModule``: model and processor loading, AdamW, checkpoints, the saved adapter.

    Subclasses set ``self.loader``, ``self.lr``, ``self.weight_decay``, ``self.betas``, ``self.adapter_dir`` and
    ``self.tiny_model_if_missing`` in their ``__init__`` (after ``super().__init__()``, which declares them), and
    extend ``on_model_loaded`` for what they add to a freshly loaded model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loader: VLMLoader
        self.lr: float
        self.weight_decay: float = 0.0
        self.betas: tuple[float, float] = (0.9, 0.999)
        self.adapter_dir: str | None = None
        self.tiny_model_if_missing = False
        self.model: torch.nn.Module | None = None
        self.processor: Any = None

    # -- set-up ------------------------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """The processor, with the DataModule connected to it; the tiny model is written by rank 0 only."""
        path = Path(self.loader.name_or_path)
        if self.tiny_model_if_missing and not path.exists():
            if self.trainer.is_global_zero:
                build_tiny_qwen3_vl(path)
            self.trainer.strategy.barrier("tiny_model")
        if self.processor is None:
            self.processor = load_vlm_processor(self.loader)
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is not None and hasattr(datamodule, "connect"):
            datamodule.connect(self.processor)

    def configure_model(self) -> None:
        if self.model is not None:
            return
        self.model = load_vlm_model(self.loader)
        # from_pretrained returns the model in eval mode and Lightning (>= 2.2) keeps the modes it finds; HF applies
        # gradient checkpointing only to layers in train mode, so without this the configs' checkpointing is off.
        self.model.train()
        # Adapter checkpoints hold only the adapters (see on_save_checkpoint); full ones load strictly.
        self.strict_loading = not self.is_peft
        self.on_model_loaded()

    def on_model_loaded(self) -> None:
        """Called once after ``configure_model`` loaded ``self.model``."""

    @property
    def vlm(self) -> Any:
        """The loaded model; ``Any`` because peft and transformers wrap it in types mypy cannot see through."""
        if self.model is None:
            raise RuntimeError("the model is not loaded yet: Lightning calls configure_model() before training")
        return self.model

    @property
    def is_peft(self) -> bool:
        return is_peft(self.model)

    # -- optimizer ---------------------------------------------------------------------------------------------------
    def adamw(self, lr_factor: Callable[[int], float]) -> dict[str, Any]:
        """AdamW over the trainable weights, its learning rate ``lr * lr_factor(step)`` stepped every optimizer step."""
        params = [p for p in self.vlm.parameters() if p.requires_grad]
        if not params:
            raise ValueError("no trainable parameters: enable LoRA or unfreeze the model in the loader config")
        # Fused AdamW is one kernel per step on CUDA; the foreach path is the fast one on CPU.
        fused = torch.cuda.is_available() and all(p.is_cuda for p in params)
        optimizer = torch.optim.AdamW(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay, fused=fused)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # -- checkpoints and artefacts -----------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """With adapters, keep only their weights: the frozen base is reloaded from its source anyway.

        Full fine-tuning (FSDP) keeps the whole state dict, so nothing is silently lost from a sharded checkpoint.
        """
        if self.is_peft:
            trainable = {f"model.{n}" for n, p in self.vlm.named_parameters() if p.requires_grad}
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Adapter checkpoints load with ``strict=False`` (they omit the frozen base), so a renamed or missing adapter
        key would load nothing, silently: require every trainable weight to be there. Lightning calls this after
        ``configure_model`` and before loading the state dict."""
        if self.is_peft:
            check_adapter_state(self.vlm, checkpoint.get("state_dict", {}), prefix="model.")

    def on_train_end(self) -> None:
        # fast_dev_run writes no checkpoints or logs, and no adapter either (it has no log_dir to put one in).
        if getattr(self.trainer, "fast_dev_run", False):
            return
        if not self.is_peft:
            self.write_full_model()
            return
        # trainer.log_dir broadcasts rank 0's answer: a collective, so every rank asks (asked on rank 0 alone, it
        # waits for a rank that has already left); rank 0 writes.
        out_dir = self.adapter_dir or str(Path(self.trainer.log_dir or self.trainer.default_root_dir) / "adapter")
        if self.trainer.is_global_zero:
            save_adapter(self.vlm, out_dir, self.processor)

    def write_full_model(self) -> None:
        """Full fine-tuning's artefact at the end of fit; by default only Lightning's checkpoints."""
