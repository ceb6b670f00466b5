"""Samples people look at, sent to the run's loggers as images and text (not only as files beside the logs).

A sample is a strip: the reference first, then each candidate's render (a grey tile where the render failed), with a
Markdown caption (rewards, render errors, critiques). TensorBoard gets ``add_image`` + ``add_text``; W&B gets
``log_image`` with the caption. Other loggers (CSV) cannot show images and are skipped.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from PIL import Image

FAILED_TILE_GREY = 200


def side_by_side(images: Sequence[Image.Image | bytes | None], tile_side: int = 256) -> Image.Image:
    """One RGB strip of ``images`` each fitted into a ``tile_side`` square; ``None`` (no render) is a grey tile."""
    if not images:
        raise ValueError("images: need at least one image for a strip")
    strip = Image.new("RGB", (tile_side * len(images), tile_side), "white")
    for i, image in enumerate(images):
        if image is None:
            tile = Image.new("RGB", (tile_side, tile_side), (FAILED_TILE_GREY,) * 3)
        else:
            tile = Image.open(io.BytesIO(image)) if isinstance(image, bytes) else image
            tile = tile.convert("RGB")
            tile.thumbnail((tile_side, tile_side))
        strip.paste(tile, (i * tile_side + (tile_side - tile.width) // 2, (tile_side - tile.height) // 2))
    return strip


def log_sample(loggers: Sequence[Logger], tag: str, strip: Image.Image, caption: str, step: int) -> int:
    """Send one sample to every logger that can show images; returns how many took it."""
    taken = 0
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(tag, np.asarray(strip), step, dataformats="HWC")
            logger.experiment.add_text(tag, caption, step)
            taken += 1
        elif type(logger).__name__ == "WandbLogger":  # imported only where wandb is installed
            logger.log_image(key=tag, images=[strip], caption=[caption], step=step)  # type: ignore[attr-defined]
            taken += 1
    return taken
