"""Fixtures for the engine and server tests: realistic judge requests on drawn images, and a saved LoRA adapter whose
weights change what the tiny model generates."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
import torch
from PIL import Image

from src.models.prompt_profiles import builtin_profile
from src.rollout.engine import ChatRequest
from tests.conftest import drawn_png


def drawn_image(domain: str, variant: int, size: tuple[int, int] = (160, 120)) -> Image.Image:
    return Image.open(BytesIO(drawn_png(domain, variant, size))).convert("RGB")


def judge_request(domain: str = "chart", variant: int = 0) -> ChatRequest:
    """The built-in critic prompt over a drawn reference/candidate pair: what the judge really sends."""
    return builtin_profile().build_request(
        domain, drawn_image(domain, variant), drawn_image(domain, variant + 3, (140, 100))
    )


def text_request(text: str = "Describe the chart.") -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": [{"type": "text", "text": text}]}])


@pytest.fixture(scope="session")
def tiny_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter with random (non-zero) B matrices: loading it must change the generated tokens."""
    from src.models.loading import LoraSettings, VLMLoader, load_vlm, save_adapter

    model, processor = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4)))
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(7)
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=1.0)  # peft starts B at zero (a no-op adapter); make it matter
    return save_adapter(model, tmp_path_factory.mktemp("tiny-adapter"), processor)
