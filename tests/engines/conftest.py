"""Fixtures for the engine and server tests: realistic judge requests on drawn images, and a saved LoRA adapter whose
weights change what the tiny model generates."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from io import BytesIO
from pathlib import Path

import pytest
import torch
from PIL import Image

from src.engines.engine import ChatRequest
from src.reward.critic_profile import builtin_profile
from tests.conftest import drawn_png

REPO = Path(__file__).resolve().parents[2]


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server_process(model_dir: Path, port: int, *extra: str, timeout_s: float = 180) -> subprocess.Popen[bytes]:
    """``tools/serve_openai.py`` as its own process (killable like a real server), returned once /health answers."""
    command = [sys.executable, str(REPO / "tools" / "serve_openai.py"), "--model", str(model_dir), "--port", str(port)]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server process, closed with it
    process = subprocess.Popen(
        [*command, *extra],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=log,  # a file, not a pipe: a pipe nobody reads fills up and blocks the server's request log
    )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return process
        except OSError:
            pass  # not listening yet
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(log.read().decode(errors="replace")[-2000:])
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"tools/serve_openai.py did not answer /health within {timeout_s} s")
        time.sleep(0.5)
