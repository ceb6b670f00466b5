"""Sample strips reach TensorBoard as images (with their caption as text), read back from the event files."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from src.stages.sample_images import FAILED_TILE_GREY, log_sample, side_by_side


def test_strip_puts_reference_first_and_greys_a_failed_render() -> None:
    red = Image.new("RGB", (40, 20), "red")
    strip = side_by_side([red, None], tile_side=64)
    assert strip.size == (128, 64)
    assert strip.getpixel((32, 32)) == (255, 0, 0)  # the reference, centred in the first tile
    assert strip.getpixel((96, 32)) == (FAILED_TILE_GREY,) * 3
    with pytest.raises(ValueError, match="at least one"):
        side_by_side([])


def test_tensorboard_gets_the_image_and_caption_csv_is_skipped(tmp_path: Path) -> None:
    tensorboard = TensorBoardLogger(save_dir=tmp_path, name="logs")
    csv = CSVLogger(save_dir=tmp_path, name="csv")
    strip = side_by_side([Image.new("RGB", (32, 32), "blue")], tile_side=32)
    assert log_sample([tensorboard, csv], "rollout/samples/g0", strip, "reward 1.5", step=3) == 1
    tensorboard.experiment.flush()
    events = EventAccumulator(tensorboard.log_dir, size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    assert "rollout/samples/g0" in events.Tags()["images"]
    image = events.Images("rollout/samples/g0")[0]
    assert (image.step, image.width, image.height) == (3, 32, 32)
    assert any("rollout/samples/g0" in tag for tag in events.Tags()["tensors"])  # the caption (add_text)
