"""Loading a Qwen3-VL processor on machines without torchvision.

transformers' ``Qwen3VLProcessor`` insists on a video processor, and every video processor in transformers 5 needs
torchvision (``BaseVideoProcessor`` is backend-gated; without it even the class check in ``ProcessorMixin.__init__``
crashes — huggingface/transformers#43986, #48556). Our CPU CI has no torchvision and the critic never sees video, so
``ImageOnlyQwen3VLProcessor`` is the same processor minus the video slot: identical chat template, image
placeholders, ``mm_token_type_ids`` and decoding. Checkpoints keep ``"processor_class": "Qwen3VLProcessor"`` so vLLM
and GPU machines (which have torchvision) load them the stock way; ``load_processor`` picks the stock class whenever
torchvision is importable and this one otherwise.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoProcessor, ProcessorMixin
from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor

# Model types whose stock processor is Qwen3VLProcessor (or a subclass with the same image path).
_QWEN3_VL_MODEL_TYPES = ("qwen3_vl", "qwen3_vl_moe")


class ImageOnlyQwen3VLProcessor(Qwen3VLProcessor):
    """``Qwen3VLProcessor`` without the video processor, so it loads and runs without torchvision."""

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None, **kwargs):
        if tokenizer is None:
            raise ValueError("ImageOnlyQwen3VLProcessor needs a tokenizer")
        # Same special tokens the stock __init__ resolves; it cannot be called because it passes a video processor.
        self.image_token = getattr(tokenizer, "image_token", "<|image_pad|>")
        self.video_token = getattr(tokenizer, "video_token", "<|video_pad|>")
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template, **kwargs)
        self.vision_start_token = getattr(tokenizer, "vision_start_token", "<|vision_start|>")
        self.vision_end_token = getattr(tokenizer, "vision_end_token", "<|vision_end|>")
        self.vision_start_token_id = tokenizer.convert_tokens_to_ids(self.vision_start_token)
        self.vision_end_token_id = tokenizer.convert_tokens_to_ids(self.vision_end_token)

    def to_dict(self) -> dict[str, Any]:
        # Saved checkpoints name the stock class, so a machine with torchvision (vLLM) loads them unchanged; the
        # video entry it expects mirrors the image settings (Qwen3VLVideoProcessor fills in the rest by default).
        out = super().to_dict()
        out["processor_class"] = "Qwen3VLProcessor"
        image = self.image_processor
        out.setdefault(
            "video_processor",
            {
                "video_processor_type": "Qwen3VLVideoProcessor",
                "patch_size": image.patch_size,
                "temporal_patch_size": image.temporal_patch_size,
                "merge_size": image.merge_size,
                "image_mean": list(image.image_mean),
                "image_std": list(image.image_std),
                "size": dict(image.size),
            },
        )
        return out

    def save_pretrained(self, save_directory: str | Path, push_to_hub: bool = False, **kwargs: Any) -> Any:
        saved = super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        # ProcessorMixin stamps its own class name into tokenizer_config.json; restamp the stock one (see to_dict).
        self.tokenizer._set_processor_class("Qwen3VLProcessor")
        self.tokenizer.save_pretrained(save_directory)
        return saved


def torchvision_available() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def load_processor(name_or_path: str | Path, **kwargs: Any) -> ProcessorMixin:
    """The model's processor: the stock one when it can load, the image-only Qwen3-VL one without torchvision.

    ``kwargs`` go to ``from_pretrained`` (e.g. ``min_pixels`` / ``max_pixels`` for the image processor).
    """
    name_or_path = str(name_or_path)
    if torchvision_available():
        return AutoProcessor.from_pretrained(name_or_path, **kwargs)
    model_type = AutoConfig.from_pretrained(name_or_path).model_type
    if model_type in _QWEN3_VL_MODEL_TYPES:
        return ImageOnlyQwen3VLProcessor.from_pretrained(name_or_path, **kwargs)
    return AutoProcessor.from_pretrained(name_or_path, **kwargs)
