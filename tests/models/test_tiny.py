"""The tiny Qwen3-VL loads back through from_pretrained and runs forward and generate on two images."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import AutoTokenizer, Qwen3VLForConditionalGeneration

from src.data.prompts import build_critic_messages
from src.models.loading import VLMLoader, load_vlm_model, save_full_model
from src.models.processor import load_processor, torchvision_available
from src.models.tiny import MAX_PIXELS, SMALL, SPECIAL_TOKENS, ModelSize, build_tiny_qwen3_vl

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_and_processor(tiny_model_dir: Path):
    model = Qwen3VLForConditionalGeneration.from_pretrained(tiny_model_dir).eval()
    return model, load_processor(tiny_model_dir)


def _two_image_inputs(processor, domain: str = "chart"):
    reference = Image.new("RGB", (256, 256), "white")
    candidate = Image.new("RGB", (300, 200), (200, 30, 30))
    messages = build_critic_messages(domain, reference, candidate)
    return processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )


def test_checkpoint_layout_matches_a_real_qwen3_vl(tiny_model_dir: Path) -> None:
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl"
    text, vision = config["text_config"], config["vision_config"]
    assert sum(text["rope_parameters"]["mrope_section"]) == text["head_dim"] // 2
    assert vision["out_hidden_size"] == text["hidden_size"]
    assert vision["deepstack_visual_indexes"] == [0]
    for key in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"):
        assert 0 <= config[key] < text["vocab_size"]
    # vLLM and torchvision machines read the stock processor class name.
    assert json.loads((tiny_model_dir / "processor_config.json").read_text())["processor_class"] == "Qwen3VLProcessor"
    assert (tiny_model_dir / "chat_template.jinja").exists()


def test_tokenizer_is_local_bpe_with_qwen_control_tokens(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert 1000 < len(tokenizer) < 5000
    ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    assert len(set(ids)) == len(SPECIAL_TOKENS) and tokenizer.unk_token_id not in ids
    text = 'The "data_error" in row 3: 12.5% vs <think>x</think>'
    assert tokenizer.decode(tokenizer(text).input_ids) == text
    assert tokenizer.eos_token == "<|im_end|>"
    # Control tokens are single tokens, not split into bytes; chat roles are whole words.
    assert tokenizer("<|im_start|>user\n").input_ids == tokenizer.convert_tokens_to_ids(["<|im_start|>", "user", "Ċ"])


def test_chat_template_puts_reference_then_candidate_then_text(model_and_processor) -> None:
    _, processor = model_and_processor
    messages = build_critic_messages("table", Image.new("RGB", (64, 64)), Image.new("RGB", (64, 64)))
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    vision = "<|vision_start|><|image_pad|><|vision_end|>"
    assert prompt.startswith(f"<|im_start|>user\n{vision}{vision}The first image is the reference")
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_two_image_forward_and_generate(model_and_processor) -> None:
    model, processor = model_and_processor
    inputs = _two_image_inputs(processor)
    assert "mm_token_type_ids" in inputs
    image_token_id = model.config.image_token_id
    n_image_tokens = int((inputs["input_ids"] == image_token_id).sum())
    assert n_image_tokens == int(inputs["mm_token_type_ids"].sum())
    # Both images are capped by MAX_PIXELS: at most MAX_PIXELS / (32*32) tokens each.
    assert 2 <= n_image_tokens <= 2 * MAX_PIXELS // (32 * 32)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
    generated = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] > inputs["input_ids"].shape[1]


def test_images_change_the_logits(model_and_processor) -> None:
    """The vision tower is wired in: a different candidate image changes the next-token distribution."""
    model, processor = model_and_processor
    reference = Image.new("RGB", (256, 256), "white")
    outputs = []
    for candidate in (Image.new("RGB", (256, 256), "white"), Image.new("RGB", (256, 256), "black")):
        inputs = processor.apply_chat_template(
            build_critic_messages("svg", reference, candidate),
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
        )
        with torch.no_grad():
            outputs.append(model(**inputs).logits[0, -1])
    assert not torch.allclose(outputs[0], outputs[1])


def test_build_is_deterministic(tiny_model_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_qwen3_vl(tmp_path / "again", seed=0)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name


@pytest.mark.skipif(not torchvision_available(), reason="stock Qwen3VLProcessor needs torchvision")
def test_stock_auto_processor_loads_it(tiny_model_dir: Path) -> None:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    assert type(processor).__name__ == "Qwen3VLProcessor"
    assert "mm_token_type_ids" in _two_image_inputs(processor)


def test_make_tiny_model_cli(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_tiny_model_cli", REPO / "tools" / "make_tiny_model.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = cli.main(["--out", str(tmp_path / "tiny"), "--seed", "1"])
    assert (out / "model.safetensors").exists() and (out / "chat_template.jinja").exists()


def test_a_size_preset_builds_the_same_architecture_at_its_size(tmp_path: Path) -> None:
    size = ModelSize(text_hidden=96, text_layers=3, text_heads=6, text_kv_heads=3, head_dim=16, vision_depth=2,
                     vision_hidden=48, vision_heads=2, max_pixels=64 * 64)  # fmt: skip
    out = build_tiny_qwen3_vl(tmp_path / "m", size=size, extra_corpus=['<circle cx="28" fill="#eb5757"/>'] * 50)
    config = json.loads((out / "config.json").read_text())
    text, vision = config["text_config"], config["vision_config"]
    assert (text["hidden_size"], text["num_hidden_layers"], text["num_attention_heads"]) == (96, 3, 6)
    assert sum(text["rope_parameters"]["mrope_section"]) == size.head_dim // 2
    assert (vision["depth"], vision["out_hidden_size"], vision["deepstack_visual_indexes"]) == (2, 96, [1])
    assert json.loads((out / "processor_config.json").read_text())["image_processor"]["size"]["longest_edge"] == 64 * 64
    # the task text joined the tokenizer's corpus: it costs fewer tokens than with the default tokenizer
    task = '<circle cx="28" fill="#eb5757"/>'
    fitted = AutoTokenizer.from_pretrained(out)(task)["input_ids"]
    default = AutoTokenizer.from_pretrained(build_tiny_qwen3_vl(tmp_path / "d"))(task)["input_ids"]
    assert len(fitted) < len(default)
    assert SMALL.text_hidden % SMALL.text_heads == 0 and SMALL.head_dim * SMALL.text_heads >= SMALL.text_hidden


def test_random_weights_are_marked_and_a_frozen_random_tower_is_warned_about(tiny_model_dir: Path, tmp_path) -> None:
    assert json.loads((tiny_model_dir / "config.json").read_text())["random_init"] is True
    with pytest.warns(UserWarning, match="random weights"):
        model = load_vlm_model(VLMLoader(str(tiny_model_dir), dtype="float32", freeze_vision=True))
    save_full_model(model, tmp_path / "trained")
    assert json.loads((tmp_path / "trained" / "config.json").read_text())["random_init"] is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # trained weights: no warning
        load_vlm_model(VLMLoader(str(tmp_path / "trained"), dtype="float32", freeze_vision=True))
