"""Embedding similarity: cosine of image embeddings from a vision encoder (DINOv2, CLIP, SigLIP) loaded from disk.

The paper's RL baseline rewards DINO similarity and shows its blind spot: visibly wrong charts score above 0.99
(the reward-hacking probes measure this). Any transformers checkpoint with an image processor works:
- models with ``get_image_features`` (``CLIPModel``, ``SiglipModel``): the projected image embedding;
- vision encoders (``Dinov2Model``, ``CLIPVisionModel``, ``SiglipVisionModel``): ``image_embeds`` where the model
  has a projection, else the pooled output (DINOv2's layer-normed CLS token), else the first token.
Each distinct reference image is embedded once per call: a GRPO batch holds each reference ``n`` times.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel

from src.reward.pair import RewardPair, check_pairs


class EmbeddingCosineReward:
    """max(0, cos(embed(reference), embed(candidate))); 0 for a candidate that did not render.

    Args:
        model_path: a local checkpoint directory (or hub id already in the local cache) with an image processor.
        batch_size: images per encoder forward.
        device: where the encoder runs.
    """

    def __init__(self, model_path: str | Path, batch_size: int = 16, device: str = "cpu") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        self.model_path = str(model_path)
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.processor = AutoImageProcessor.from_pretrained(self.model_path)
        self.model = AutoModel.from_pretrained(self.model_path).to(self.device).eval()

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        check_pairs(pairs)
        rendered = [i for i, pair in enumerate(pairs) if pair.rendered]
        references: dict[int, Image.Image] = {id(pairs[i].reference): pairs[i].reference for i in rendered}
        reference_rows = {key: row for row, key in enumerate(references)}
        reference_embeddings = self.embed(list(references.values()))  # [n_refs, dim], unit length
        rewards = [0.0] * len(pairs)
        for start in range(0, len(rendered), self.batch_size):  # decode candidates a batch at a time (memory)
            chunk = rendered[start : start + self.batch_size]
            candidate_embeddings = self.embed([pairs[i].candidate_image() for i in chunk])  # [chunk, dim]
            for i, embedding in zip(chunk, candidate_embeddings, strict=True):
                cosine = float(reference_embeddings[reference_rows[id(pairs[i].reference)]] @ embedding)
                rewards[i] = max(0.0, cosine)
        return rewards

    @torch.inference_mode()
    def embed(self, images: list[Image.Image]) -> torch.Tensor:
        """Unit-length embeddings, one row per image."""
        rows = []
        for start in range(0, len(images), self.batch_size):
            batch = [image.convert("RGB") for image in images[start : start + self.batch_size]]
            pixel_values = self.processor(images=batch, return_tensors="pt")["pixel_values"].to(self.device)
            rows.append(self._features(pixel_values).float())
        if not rows:
            return torch.zeros(0, 1)
        return torch.nn.functional.normalize(torch.cat(rows), dim=-1)

    def _features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if hasattr(self.model, "get_image_features"):
            out: Any = self.model.get_image_features(pixel_values=pixel_values)
            return out if isinstance(out, torch.Tensor) else out.pooler_output
        out = self.model(pixel_values=pixel_values)
        for name in ("image_embeds", "pooler_output"):
            value = getattr(out, name, None)
            if value is not None:
                return value
        return out.last_hidden_state[:, 0]
