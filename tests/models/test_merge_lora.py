"""tools/merge_lora.py: the merged checkpoint computes what base + adapter computed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import Qwen3VLForConditionalGeneration

from src.data.prompts import build_critic_messages
from src.models.loading import LoraSettings, VLMLoader, load_vlm, merge_adapter, save_adapter
from src.models.processor import load_processor

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, processor = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4)))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)  # B starts at zero; a non-trivial update makes the check meaningful
    return save_adapter(model, tmp_path_factory.mktemp("adapter"), processor)


def _logits(model, processor) -> torch.Tensor:
    messages = build_critic_messages("svg", Image.new("RGB", (128, 128), "blue"), Image.new("RGB", (128, 96), "red"))
    batch = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    with torch.no_grad():
        return model.eval()(**batch).logits


def test_merged_logits_equal_adapter_logits(tiny_model_dir: Path, trained_adapter: Path, tmp_path: Path) -> None:
    with_adapter, processor = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", adapter=str(trained_adapter)))
    base, _ = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32"))
    expected = _logits(with_adapter, processor)
    assert not torch.allclose(expected, _logits(base, processor))  # the adapter does change the model

    out = merge_adapter(str(tiny_model_dir), trained_adapter, tmp_path / "merged", dtype="float32")
    merged = Qwen3VLForConditionalGeneration.from_pretrained(out)
    assert not any("lora" in name for name, _ in merged.named_parameters())
    torch.testing.assert_close(_logits(merged, load_processor(out)), expected, rtol=1e-4, atol=1e-4)


def test_cli_writes_a_loadable_checkpoint(tiny_model_dir: Path, trained_adapter: Path, tmp_path: Path) -> None:
    # The script's own main() in-process: same argument parsing, without a second interpreter's import cost.
    spec = importlib.util.spec_from_file_location("merge_lora_cli", REPO / "tools" / "merge_lora.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    args = ["--base", str(tiny_model_dir), "--adapter", str(trained_adapter), "--out", str(tmp_path / "m")]
    assert cli.main([*args, "--dtype", "float32"]) == tmp_path / "m"
    for name in ("config.json", "model.safetensors", "processor_config.json", "tokenizer.json"):
        assert (tmp_path / "m" / name).exists(), name


def test_merge_refuses_a_directory_without_adapter(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        merge_adapter(str(tiny_model_dir), tmp_path, tmp_path / "out")
