"""load_vlm on the tiny Qwen3-VL through the real from_pretrained path: full, LoRA, QLoRA, adapters, checkpointing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from src.data.prompts import build_critic_messages
from src.models.loading import (
    LoraSettings,
    VLMLoader,
    freeze_vision_encoder,
    load_vlm,
    resolve_attn_implementation,
    save_adapter,
)


def _critic_batch(processor) -> dict[str, torch.Tensor]:
    messages = build_critic_messages("chart", Image.new("RGB", (128, 128), "white"), Image.new("RGB", (96, 160), "red"))
    return processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )


def _loss_backward(model, processor) -> None:
    batch = _critic_batch(processor)
    model.train()
    loss = model(**batch, labels=batch["input_ids"]).loss
    assert torch.isfinite(loss)
    loss.backward()


def _grad_names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}


def test_auto_attention_is_sdpa_without_cuda_flash_attn() -> None:
    if torch.cuda.is_available():
        pytest.skip("on CUDA the answer depends on flash_attn being installed")
    assert resolve_attn_implementation("auto") == "sdpa"
    assert resolve_attn_implementation("eager") == "eager"


def test_full_model_loads_in_requested_dtype_with_frozen_vit(tiny_model_dir: Path) -> None:
    model, processor = load_vlm(VLMLoader(str(tiny_model_dir), dtype="bfloat16", attn_implementation="sdpa"))
    assert next(model.parameters()).dtype == torch.bfloat16
    assert model.config._attn_implementation == "sdpa"
    visual = model.model.visual
    assert not any(p.requires_grad for p in visual.blocks.parameters())
    assert all(p.requires_grad for p in visual.merger.parameters())  # the projector stays trainable
    assert all(p.requires_grad for p in model.model.language_model.parameters())
    assert type(processor).__name__.endswith("Qwen3VLProcessor")


def test_lora_trains_only_language_adapters_by_default(tiny_model_dir: Path) -> None:
    model, processor = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4, alpha=8)))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    # 2 layers x 7 projections x (A, B)
    assert len(trainable) == 2 * 7 * 2
    _loss_backward(model, processor)
    assert _grad_names(model) <= trainable and _grad_names(model)


def test_lora_train_vision_adds_vision_adapters(tiny_model_dir: Path) -> None:
    loader = VLMLoader(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4, train_vision=True))
    model, processor = load_vlm(loader)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    vision = {n for n in trainable if ".visual.blocks." in n}
    assert len(vision) == 4 * 2  # qkv, proj, linear_fc1, linear_fc2 of the single block
    _loss_backward(model, processor)
    assert _grad_names(model) & vision


def test_lora_regex_that_matches_nothing_is_a_clear_error(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="matched no module"):
        load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", lora=LoraSettings(target_modules=r".*nope_proj")))


def test_qlora_nf4_forward_backward_grads_only_on_lora(tiny_model_dir: Path) -> None:
    pytest.importorskip("bitsandbytes")
    loader = VLMLoader(
        str(tiny_model_dir),
        dtype="bfloat16",
        quantization="nf4",
        lora=LoraSettings(r=4),
        gradient_checkpointing=True,
    )
    model, processor = load_vlm(loader)
    linear_types = {type(m).__name__ for n, m in model.named_modules() if n.endswith("self_attn.q_proj.base_layer")}
    assert linear_types == {"Linear4bit"}
    assert type(model.get_base_model().model.visual.blocks[0].attn.qkv).__name__ == "Linear"  # ViT kept unquantized
    _loss_backward(model, processor)
    grads = _grad_names(model)
    assert grads and all("lora_" in n for n in grads)


def test_gradient_checkpointing_keeps_gradients_equal(tiny_model_dir: Path) -> None:
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        loader = VLMLoader(
            str(tiny_model_dir),
            dtype="float32",
            lora=LoraSettings(r=4, dropout=0.0),
            gradient_checkpointing=checkpointing,
        )
        model, processor = load_vlm(loader)
        base = model.get_base_model()
        flag = getattr(base, "is_activation_checkpointing", None)
        assert (flag if flag is not None else base.is_gradient_checkpointing) == checkpointing
        _loss_backward(model, processor)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("quantization", ["none", "nf4"])
def test_checkpointing_every_n_layers_recomputes_only_those_layers(tiny_model_dir: Path, quantization: str) -> None:
    """Every n-th block (vision and text counted together) is recomputed in the backward, the rest keep activations;
    through the QLoRA path too, where peft's preparation has first checkpointed every layer."""
    dtype = "bfloat16" if quantization == "nf4" else "float32"
    loader = VLMLoader(
        str(tiny_model_dir),
        dtype=dtype,
        quantization=quantization,
        lora=LoraSettings(r=4, dropout=0.0),
        gradient_checkpointing=True,
        checkpoint_every_n_layers=2,
    )
    model, processor = load_vlm(loader)
    base = model.get_base_model()
    blocks = [*base.model.visual.blocks, *base.model.language_model.layers]
    assert [b.gradient_checkpointing for b in blocks] == [i % 2 == 0 for i in range(len(blocks))]
    calls = [0] * len(base.model.language_model.layers)
    for i, layer in enumerate(base.model.language_model.layers):
        layer.mlp.register_forward_pre_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    _loss_backward(model, processor)
    text_flags = [layer.gradient_checkpointing for layer in base.model.language_model.layers]
    assert calls == [2 if flag else 1 for flag in text_flags]
    assert 1 in calls and 2 in calls


def test_adapter_saves_in_peft_format_and_loads_back(tiny_model_dir: Path, tmp_path: Path) -> None:
    model, processor = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4)))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)  # B starts at zero; make the adapter actually change the output
    out = save_adapter(model, tmp_path / "adapter", processor)
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    batch = _critic_batch(processor)
    model.eval()
    with torch.no_grad():
        expected = model(**batch).logits
    reloaded, _ = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", adapter=str(out)))
    with torch.no_grad():
        torch.testing.assert_close(reloaded.eval()(**batch).logits, expected)


def test_save_adapter_refuses_a_plain_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    model, _ = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32"))
    with pytest.raises(TypeError, match="PeftModel"):
        save_adapter(model, tmp_path)


def test_pixel_budget_override_bounds_image_tokens(tiny_model_dir: Path) -> None:
    _, processor = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", min_pixels=1024, max_pixels=32 * 32 * 4))
    assert processor.image_processor.size["longest_edge"] == 32 * 32 * 4
    batch = _critic_batch(processor)
    assert int(batch["mm_token_type_ids"].sum()) <= 2 * 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name_or_path": ""}, "name_or_path"),
        ({"lora": LoraSettings(), "adapter": "x"}, "exclusive"),
        ({"lora": LoraSettings(), "freeze_vision": False}, "train_vision"),
        ({"min_pixels": 4096, "max_pixels": 1024}, "min_pixels"),
        ({"checkpoint_every_n_layers": 0}, "checkpoint_every_n_layers"),
    ],
)
def test_loader_rejects_contradictory_settings(kwargs: dict, message: str) -> None:
    kwargs.setdefault("name_or_path", "some/model")
    with pytest.raises(ValueError, match=message):
        VLMLoader(**kwargs)


def test_freeze_vision_encoder_needs_a_vision_tower() -> None:
    with pytest.raises(ValueError, match="vision tower"):
        freeze_vision_encoder(torch.nn.Linear(2, 2))


def test_adapter_with_missing_keys_fails_instead_of_loading_nothing(tiny_model_dir: Path, tmp_path: Path) -> None:
    """peft loads non-strictly: a renamed key would leave that layer at lora_B = 0, silently."""
    from safetensors.torch import load_file, save_file

    from src.models.loading import AdapterMismatchError

    model, _ = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4)))
    out = save_adapter(model, tmp_path / "adapter")
    weights = load_file(out / "adapter_model.safetensors")
    renamed = {k.replace("q_proj", "query_proj"): v for k, v in weights.items()}
    assert renamed != weights
    save_file(renamed, out / "adapter_model.safetensors")
    with pytest.raises(AdapterMismatchError, match="adapter weights missing"):
        load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", adapter=str(out)))
