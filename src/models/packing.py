"""Positions for padding-free (packed) batches of a Qwen-VL model.

A packed batch is one row holding several samples back to back (``src.data.collate.pack_token_batch``). Two things
keep the samples apart, both driven by the position ids handed to the model:

* rows 1-3 are each sample's own multimodal RoPE positions (time, height, width of image tokens), computed by the
  model's ``get_rope_index`` on that sample alone, so every sample is positioned exactly as if it were unpacked;
* row 0 holds text positions restarting at 0 for every sample. With no attention mask, transformers reads the
  restarts as sample boundaries: flash-attention runs its variable-length kernel over them, SDPA and eager get a
  block-diagonal causal mask (``transformers.masking_utils.find_packed_sequence_indices``).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch


def packed_position_ids(
    backbone: Any,
    input_ids: torch.Tensor,
    seq_lens: torch.Tensor,
    images_per_seq: torch.Tensor,
    image_grid_thw: torch.Tensor | None = None,
    mm_token_type_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """(4, 1, total tokens) position ids for a packed row: text positions, then the 3 mRoPE rows per sample.

    ``backbone`` is the multimodal model (``Qwen3VLModel``: the ``.model`` of the ``*ForConditionalGeneration``),
    whose ``get_rope_index`` is the one the unpacked forward would call.
    """
    get_rope_index = getattr(backbone, "get_rope_index", None)
    if get_rope_index is None:
        raise TypeError(f"{type(backbone).__name__} has no get_rope_index: packing supports Qwen-VL models only")
    if input_ids.ndim != 2 or input_ids.shape[0] != 1:
        raise ValueError(f"a packed batch is one row, got input_ids of shape {tuple(input_ids.shape)}")
    total = int(seq_lens.sum())
    if total != input_ids.shape[1]:
        raise ValueError(f"seq_lens add up to {total} tokens but the packed row has {input_ids.shape[1]}")
    n_images = int(images_per_seq.sum())
    if n_images and (image_grid_thw is None or image_grid_thw.shape[0] != n_images):
        got = 0 if image_grid_thw is None else image_grid_thw.shape[0]
        raise ValueError(f"images_per_seq counts {n_images} images but image_grid_thw has {got}")

    accepted = inspect.signature(get_rope_index).parameters
    rows: list[torch.Tensor] = []
    start, first_image = 0, 0
    for length, n_img in zip(seq_lens.tolist(), images_per_seq.tolist(), strict=True):
        stop = start + length
        kwargs: dict[str, Any] = {"input_ids": input_ids[:, start:stop]}
        if n_img:
            kwargs["image_grid_thw"] = image_grid_thw[first_image : first_image + n_img]  # type: ignore[index]
        if "mm_token_type_ids" in accepted:
            if mm_token_type_ids is None:
                raise ValueError("this model's get_rope_index needs mm_token_type_ids; the packed batch has none")
            kwargs["mm_token_type_ids"] = mm_token_type_ids[:, start:stop]
        mrope, _ = get_rope_index(**kwargs)  # (3, 1, length)
        text = torch.arange(length, device=input_ids.device, dtype=mrope.dtype).view(1, 1, length)
        rows.append(torch.cat([text, mrope.to(input_ids.device)], dim=0))
        start, first_image = stop, first_image + n_img
    return torch.cat(rows, dim=2)
