"""Fixtures shared by every test package: the tiny Qwen3-VL is built once per session and reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.models.tiny import build_tiny_qwen3_vl


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen3-VL checkpoint directory (config, weights, tokenizer, chat template, processor).

    Load it with ``load_vlm(VLMLoader(name_or_path=str(tiny_model_dir)))`` or ``load_processor(tiny_model_dir)``.
    Read-only by convention: tests that change weights save to their own ``tmp_path``.
    """
    return build_tiny_qwen3_vl(tmp_path_factory.mktemp("tiny-qwen3-vl"), seed=0)
