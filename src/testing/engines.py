"""In-process engines on the tiny random Qwen3-VL, for debug configs, tests and the quick demo."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path

from src.engines.hf_engine import HFEngine
from src.models.tiny import build_tiny_qwen3_vl


def tiny_judge_engine(name_or_path: str, max_batch_size: int = 16) -> HFEngine:
    """Debug configs only: an in-process ``HFEngine`` on the tiny random Qwen3-VL, built at ``name_or_path`` if missing.

    The YAML builds callbacks (and so the judge's engine) before any module ``setup`` could build the tiny model, so
    the judge builds it itself. Built in a sibling directory and renamed into place, so ranks starting together never
    read a half-written checkpoint.
    """
    path = Path(name_or_path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        build_tiny_qwen3_vl(staging / "model")
        with suppress(OSError):  # another rank got there first: its copy is complete
            os.rename(staging / "model", path)
        shutil.rmtree(staging, ignore_errors=True)
    return HFEngine.from_pretrained(path, dtype="float32", max_batch_size=max_batch_size)
