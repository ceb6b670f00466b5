"""What every VLM stage does in ``setup``: build the tiny test model if asked and missing, load the processor once,
and hand it to the DataModule (``connect``), which cannot know the tokenizer or image processor at construction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L

from src.models.loading import VLMLoader, load_vlm_processor
from src.models.tiny import build_tiny_qwen3_vl


def setup_vlm_stage(stage: L.LightningModule, loader: VLMLoader, tiny_model_if_missing: bool, processor: Any) -> Any:
    """The processor for ``stage`` (``processor`` if already loaded), with the DataModule connected to it.

    The tiny model is written by rank 0 only, the other ranks wait at a barrier, so DDP ranks never race on it.
    """
    path = Path(loader.name_or_path)
    if tiny_model_if_missing and not path.exists():
        if stage.trainer.is_global_zero:
            build_tiny_qwen3_vl(path)
        stage.trainer.strategy.barrier("tiny_model")
    if processor is None:
        processor = load_vlm_processor(loader)
    datamodule = getattr(stage.trainer, "datamodule", None) if stage._trainer is not None else None
    if datamodule is not None and hasattr(datamodule, "connect"):
        datamodule.connect(processor)
    return processor
