"""Positions of packed rows: every sample must be positioned exactly as the model positions it alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from src.models.loading import VLMLoader, load_vlm_model
from src.models.packing import packed_position_ids


@pytest.fixture(scope="module")
def backbone(tiny_model_dir: Path) -> Any:
    return load_vlm_model(VLMLoader(name_or_path=str(tiny_model_dir), dtype="float32")).model


def _sample(config: Any, text_before: int, grids: list[tuple[int, int]], text_after: int) -> dict[str, torch.Tensor]:
    """Token ids and token types of text, images of the given (h, w) patch grids, then text."""
    merge = config.vision_config.spatial_merge_size
    ids, types, thw = [5] * text_before, [0] * text_before, []
    for h, w in grids:
        n = (h // merge) * (w // merge)
        ids += [config.vision_start_token_id] + [config.image_token_id] * n + [config.vision_end_token_id]
        types += [0] + [1] * n + [0]
        thw.append([1, h, w])
    ids += [7] * text_after
    types += [0] * text_after
    return {
        "input_ids": torch.tensor(ids),
        "mm_token_type_ids": torch.tensor(types),
        "image_grid_thw": torch.tensor(thw, dtype=torch.long).reshape(-1, 3),
    }


def test_each_packed_sample_gets_its_own_unpacked_positions(backbone: Any) -> None:
    samples = [
        _sample(backbone.config, 3, [(4, 6), (8, 4)], 5),
        _sample(backbone.config, 2, [], 9),  # a text-only sample between two with images
        _sample(backbone.config, 4, [(6, 6)], 2),
    ]
    input_ids = torch.cat([s["input_ids"] for s in samples])[None]
    mm = torch.cat([s["mm_token_type_ids"] for s in samples])[None]
    thw = torch.cat([s["image_grid_thw"] for s in samples])
    seq_lens = torch.tensor([len(s["input_ids"]) for s in samples])
    images = torch.tensor([len(s["image_grid_thw"]) for s in samples])

    packed = packed_position_ids(backbone, input_ids, seq_lens, images, thw, mm)

    assert packed.shape == (4, 1, input_ids.shape[1])
    start = 0
    for s in samples:
        n = len(s["input_ids"])
        alone, _ = backbone.get_rope_index(
            input_ids=s["input_ids"][None],
            mm_token_type_ids=s["mm_token_type_ids"][None],
            image_grid_thw=s["image_grid_thw"] if len(s["image_grid_thw"]) else None,
        )
        assert torch.equal(packed[1:, :, start : start + n], alone)
        assert torch.equal(packed[0, 0, start : start + n], torch.arange(n))  # text positions restart per sample
        start += n
    # image tokens really get 2-D positions (height and width rows differ from the time row somewhere)
    assert not torch.equal(packed[2], packed[1])


def test_packing_metadata_that_disagrees_with_the_row_is_refused(backbone: Any) -> None:
    s = _sample(backbone.config, 3, [(4, 4)], 3)
    ids, mm, thw = s["input_ids"][None], s["mm_token_type_ids"][None], s["image_grid_thw"]
    n = ids.shape[1]
    with pytest.raises(ValueError, match="add up to"):
        packed_position_ids(backbone, ids, torch.tensor([n - 1]), torch.tensor([1]), thw, mm)
    with pytest.raises(ValueError, match="image_grid_thw has 1"):
        packed_position_ids(backbone, ids, torch.tensor([n]), torch.tensor([2]), thw, mm)
    with pytest.raises(ValueError, match="one row"):
        packed_position_ids(backbone, ids.repeat(2, 1), torch.tensor([n, n]), torch.tensor([1, 1]), thw, mm)
    with pytest.raises(TypeError, match="get_rope_index"):
        packed_position_ids(torch.nn.Linear(2, 2), ids, torch.tensor([n]), torch.tensor([1]), thw, mm)
