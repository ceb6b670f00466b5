"""Load a vision-language model and its processor from a Hugging Face id or a local directory.

One entry point, ``load_vlm(VLMLoader(...))``, used by the SFT stage, the GRPO stage, the judge and the tools, so
every caller gets the same dtype / attention / LoRA / QLoRA decisions. The dataclasses are the config schema:
jsonargparse turns them into ``--model.loader.lora.r`` style options.

Decisions, and why:
- ``attn_implementation="auto"`` takes FlashAttention-2 only when ``flash_attn`` is importable *and* CUDA is up,
  else PyTorch SDPA: flash-attn is an optional GPU extra and must never be a hard import.
- LoRA targets are one regex over module names (peft full-matches a string ``target_modules``), by default the
  language model's attention and MLP projections (the standard Qwen LoRA recipe). ``LoraSettings.train_vision``
  adds the vision tower's attention/MLP linears.
- Full fine-tuning with ``freeze_vision`` freezes the ViT but keeps the patch mergers (the projector into the
  language model) trainable, as Qwen's own fine-tuning scripts do (tune_mm_mlp on, tune_mm_vision off).
- QLoRA (``quantization="nf4"``): NF4 with double quantization and bf16 compute (QLoRA paper settings). The vision
  tower and ``lm_head`` stay unquantized — the ViT is small and its features feed every image token — then peft's
  ``prepare_model_for_kbit_training`` upcasts the remaining small params to fp32 for stable training.
  bitsandbytes >= 0.50 runs NF4 on CPU, so the path is tested without a GPU.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from transformers import AutoModelForImageTextToText, PreTrainedModel, ProcessorMixin

from src.models.processor import load_processor

DType = Literal["bfloat16", "float16", "float32"]
AttnImplementation = Literal["auto", "flash_attention_2", "sdpa", "eager"]

# Qwen2/2.5/3-VL module names: model.language_model.layers.N.{self_attn,mlp}.*_proj
LANGUAGE_LORA_TARGETS = r".*language_model\..*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
# model.visual.blocks.N.attn.{qkv,proj} and .mlp.linear_fc{1,2}; the mergers stay out (they are tiny, train them).
VISION_LORA_TARGETS = r".*visual\.blocks\..*\.(attn\.qkv|attn\.proj|mlp\.linear_fc1|mlp\.linear_fc2)"
# Submodules of the vision tower that project into the language model and stay trainable under freeze_vision.
_VISION_PROJECTORS = ("merger", "deepstack_merger_list")


@dataclass
class LoraSettings:
    """LoRA adapters through peft.

    Args:
        r: adapter rank (the 8B configs and ``benchmarks/train_step.py`` use 64).
        alpha: scaling numerator; the update is scaled by alpha / r.
        dropout: dropout on the adapter input.
        target_modules: regex full-matched against module names; default: every language-model projection.
        train_vision: also put adapters on the vision tower's attention and MLP linears.
        modules_to_save: modules trained in full next to the adapters and saved with them (peft's option, matched
            by name suffix, e.g. ``[lm_head, embed_tokens]``). A pretrained model does not need it; a random tiny
            model does: its frozen random embeddings and head leave low-rank adapters almost nothing to steer.
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = LANGUAGE_LORA_TARGETS
    train_vision: bool = False
    modules_to_save: list[str] | None = None

    def __post_init__(self) -> None:
        if self.r <= 0:
            raise ValueError(f"lora.r: must be positive, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora.dropout: must be in [0, 1), got {self.dropout}")

    def target_regex(self) -> str:
        if self.train_vision:
            return f"(?:{self.target_modules})|(?:{VISION_LORA_TARGETS})"
        return self.target_modules


@dataclass
class VLMLoader:
    """What to load and how.

    Args:
        name_or_path: Hugging Face id (``Qwen/Qwen3-VL-8B-Instruct``) or a local checkpoint directory.
        dtype: parameter dtype of the unquantized weights.
        attn_implementation: ``auto`` = flash_attention_2 when installed and on CUDA, else sdpa.
        lora: adapters to add for training; ``None`` = train (or run) the full model.
        adapter: a saved peft adapter directory to load on top (inference / evaluation); excludes ``lora``.
        quantization: ``nf4`` loads the language model in 4-bit (QLoRA when ``lora`` is set).
        gradient_checkpointing: recompute activations in backward to save memory (~30% slower).
        checkpoint_every_n_layers: with ``gradient_checkpointing``, checkpoint only every n-th layer (vision blocks
            and decoder layers counted together, as transformers does); the others keep their activations, which
            buys back speed where memory allows (an 80-141 GB GPU for the 8B LoRA run). Needs transformers >= 5.
        freeze_vision: full fine-tuning only: freeze the ViT, keep its mergers trainable.
        min_pixels: override the image processor's lower pixel budget per image (None = checkpoint's own).
        max_pixels: override the upper pixel budget per image; bounds image tokens (pixels / 32² for Qwen3-VL).
    """

    name_or_path: str
    dtype: DType = "bfloat16"
    attn_implementation: AttnImplementation = "auto"
    lora: LoraSettings | None = None
    adapter: str | None = None
    quantization: Literal["none", "nf4"] = "none"
    gradient_checkpointing: bool = False
    checkpoint_every_n_layers: int = 1
    freeze_vision: bool = True
    min_pixels: int | None = None
    max_pixels: int | None = None

    def __post_init__(self) -> None:
        if not self.name_or_path:
            raise ValueError("name_or_path: empty; give a Hugging Face id or a local checkpoint directory")
        if self.lora is not None and self.adapter is not None:
            raise ValueError("lora and adapter are exclusive: lora adds new adapters, adapter loads saved ones")
        if self.lora is not None and not self.freeze_vision:
            raise ValueError("freeze_vision applies to full fine-tuning; with LoRA set lora.train_vision instead")
        if self.checkpoint_every_n_layers < 1:
            raise ValueError(f"checkpoint_every_n_layers: must be >= 1, got {self.checkpoint_every_n_layers}")
        for name in ("min_pixels", "max_pixels"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name}: must be positive, got {value}")
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) > max_pixels ({self.max_pixels})")


def resolve_attn_implementation(requested: AttnImplementation) -> str:
    """``auto`` → flash_attention_2 only if flash_attn is importable and CUDA is available, else sdpa."""
    if requested != "auto":
        return requested
    if importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available():
        return "flash_attention_2"
    return "sdpa"


def load_vlm(loader: VLMLoader) -> tuple[nn.Module, ProcessorMixin]:
    """Load model and processor as ``loader`` says; the model is a ``PeftModel`` when LoRA/adapter is used."""
    return load_vlm_model(loader), load_vlm_processor(loader)


def load_vlm_model(loader: VLMLoader) -> nn.Module:
    """The model alone, for callers that already hold the processor (the SFT stage loads it in ``setup``)."""
    dtype = getattr(torch, loader.dtype)
    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "attn_implementation": resolve_attn_implementation(loader.attn_implementation),
    }
    if loader.quantization == "nf4":
        kwargs["quantization_config"] = _nf4_config()
        # bitsandbytes quantizes while placing weights, so they must land on their final device here.
        kwargs["device_map"] = {"": torch.cuda.current_device()} if torch.cuda.is_available() else {"": "cpu"}
    model: Any = AutoModelForImageTextToText.from_pretrained(loader.name_or_path, **kwargs)

    if loader.gradient_checkpointing:
        # The KV cache is useless in training and conflicts with recomputation (Qwen3-VL reads the text config's).
        for config in (model.config, getattr(model.config, "text_config", None)):
            if config is not None:
                config.use_cache = False
    if loader.quantization == "nf4":
        model = _prepare_kbit(model, loader.gradient_checkpointing)
    if loader.gradient_checkpointing and (loader.quantization != "nf4" or loader.checkpoint_every_n_layers > 1):
        _enable_checkpointing(model, loader.checkpoint_every_n_layers)

    if loader.lora is not None:
        model = _add_lora(model, loader.lora)
    elif loader.adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, loader.adapter, is_trainable=False)
        check_adapter_file_covers_model(model, loader.adapter)
    elif loader.freeze_vision:
        if getattr(model.config, "random_init", False):
            warnings.warn(
                f"freeze_vision: {loader.name_or_path} has random weights (built locally, never trained), so its "
                "frozen vision tower gives the language model fixed noise features; set loader.freeze_vision: false "
                "to train it",
                stacklevel=2,
            )
        freeze_vision_encoder(model)

    return model


def load_vlm_processor(loader: VLMLoader) -> ProcessorMixin:
    """The processor alone, with the loader's pixel budget: data pipelines need it before the weights are loaded."""
    processor = load_processor(loader.name_or_path)
    _set_pixel_budget(processor, loader.min_pixels, loader.max_pixels)
    return processor


def freeze_vision_encoder(model: nn.Module) -> int:
    """Freeze the ViT (patch embedding, positions, blocks) but not its mergers; return #params frozen."""
    visual = _vision_tower(model)
    frozen = 0
    for name, param in visual.named_parameters():
        if not name.startswith(_VISION_PROJECTORS):
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


def save_adapter(model: nn.Module, out_dir: str | Path, processor: ProcessorMixin | None = None) -> Path:
    """Write the LoRA adapter in peft's format (adapter_config.json + adapter_model.safetensors).

    The processor is saved next to it when given, so the directory alone is enough to serve the adapter
    (vLLM ``--lora-modules`` / ``/v1/load_lora_adapter``) or to merge it with ``tools/merge_lora.py``.
    """
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        raise TypeError(f"save_adapter: expected a peft PeftModel, got {type(model).__name__} (was LoRA enabled?)")
    out = Path(out_dir)
    model.save_pretrained(str(out))
    if processor is not None:
        processor.save_pretrained(out)
    return out


def save_full_model(model: nn.Module, out_dir: str | Path, processor: ProcessorMixin | None = None) -> Path:
    """Write a fully fine-tuned model (and its processor) in Hugging Face format, loadable as a base checkpoint.

    The config's ``random_init`` mark (``src.models.tiny``) is dropped: these weights were trained.
    """
    out = Path(out_dir)
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "random_init", False):
        config.random_init = False
    model.save_pretrained(str(out))  # type: ignore[operator]
    if processor is not None:
        processor.save_pretrained(out)
    return out


class AdapterMismatchError(ValueError):
    """A saved adapter does not hold a weight for every adapter layer of the model it is loaded into."""


def check_adapter_file_covers_model(model: nn.Module, adapter_dir: str | Path) -> None:
    """Fail when the adapter file lacks weights the model's adapter layers expect.

    peft loads adapter files with ``strict=False``: a key renamed between peft or transformers versions, or an
    adapter saved with other target modules, loads nothing for that layer and leaves it at its initialisation
    (``lora_B`` = 0: the base model's output), with at most a warning.
    """
    from peft import get_peft_model_state_dict

    path = Path(adapter_dir) / "adapter_model.safetensors"
    if path.exists():
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            saved = set(f.keys())
    else:
        bin_path = Path(adapter_dir) / "adapter_model.bin"
        if not bin_path.exists():
            raise FileNotFoundError(f"{adapter_dir}: no adapter_model.safetensors or adapter_model.bin")
        saved = set(torch.load(bin_path, map_location="cpu", weights_only=True))
    expected = set(get_peft_model_state_dict(model))
    missing = sorted(expected - saved)
    if missing:
        raise AdapterMismatchError(
            f"{adapter_dir}: {len(missing)} of {len(expected)} adapter weights missing (first: {missing[0]}); saved "
            f"keys look like {sorted(saved)[:1]}. The adapter was saved for other modules or another key layout"
        )


def merge_adapter(base: str, adapter_dir: str | Path, out_dir: str | Path, dtype: DType = "bfloat16") -> Path:
    """Fold a peft LoRA adapter into its base and save a plain checkpoint (+ processor) vLLM can serve.

    The base is loaded unquantized in ``dtype`` (merging into NF4 weights would round the update away). The
    processor comes from the adapter directory when ``save_adapter`` put one there, else from the base.
    """
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").exists():
        raise FileNotFoundError(f"{adapter_dir}: no adapter_config.json; not a peft adapter directory")
    from peft import PeftModel

    model, processor = load_vlm(VLMLoader(base, dtype=dtype, adapter=str(adapter_dir), attn_implementation="sdpa"))
    if not isinstance(model, PeftModel):  # load_vlm wraps the base in a PeftModel whenever an adapter is given
        raise TypeError(f"merge_adapter: expected a peft PeftModel from load_vlm, got {type(model).__name__}")
    merged = model.merge_and_unload()
    out = Path(out_dir)
    merged.save_pretrained(out)
    if (adapter_dir / "processor_config.json").exists() or (adapter_dir / "preprocessor_config.json").exists():
        processor = type(processor).from_pretrained(adapter_dir)
    processor.save_pretrained(out)
    return out


def _nf4_config() -> Any:
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
        # Matched from the start of the module name in transformers 5 and as a substring in 4.x: both hold here.
        llm_int8_skip_modules=["model.visual", "lm_head"],
    )


def _enable_checkpointing(model: PreTrainedModel, every_n_layers: int) -> None:
    """Non-reentrant checkpointing (no input-grad hook needed with frozen embeddings; works with FSDP)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs, every_n_layers=every_n_layers)
    elif every_n_layers == 1:  # transformers 4.x: the older name, and every layer or none
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    else:
        raise ValueError("checkpoint_every_n_layers > 1 needs transformers >= 5 (activation_checkpointing_enable)")


def _prepare_kbit(model: PreTrainedModel, gradient_checkpointing: bool) -> PreTrainedModel:
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(
        model,
        use_gradient_checkpointing=gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
    )


def _add_lora(model: PreTrainedModel, settings: LoraSettings) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_regex(),
        bias="none",
        task_type="CAUSAL_LM",
        modules_to_save=list(settings.modules_to_save) if settings.modules_to_save else None,
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:  # peft's message when the regex matches nothing
        raise ValueError(f"lora.target_modules {settings.target_regex()!r} matched no module: {exc}") from exc


def unwrap_peft(model: nn.Module) -> Any:
    """The transformers model under a peft wrapper, or ``model`` itself when it has none.

    Typed ``Any``: nn.Module's ``__getattr__`` types every attribute as Tensor | Module, and callers reach into HF
    attributes (``.model``, ``num_parameters``, ``_no_split_modules``) that mypy cannot see.
    """
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if get_base_model is not None else model


def _vision_tower(model: nn.Module) -> nn.Module:
    """The ViT of Qwen2/2.5/3-VL (``model.visual``), through a PeftModel wrapper if any."""
    base = unwrap_peft(model)
    inner = getattr(base, "model", base)
    visual = getattr(inner, "visual", None)
    if visual is None:
        raise ValueError(f"{type(base).__name__} has no vision tower at .model.visual; cannot freeze it")
    return visual


def _set_pixel_budget(processor: ProcessorMixin, min_pixels: int | None, max_pixels: int | None) -> None:
    if min_pixels is None and max_pixels is None:
        return
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is None or not hasattr(image_processor, "size"):
        raise ValueError(f"{type(processor).__name__} has no image processor whose pixel budget could be set")
    size = dict(image_processor.size)
    if min_pixels is not None:
        size["shortest_edge"] = min_pixels
    if max_pixels is not None:
        size["longest_edge"] = max_pixels
    if size["shortest_edge"] > size["longest_edge"]:
        raise ValueError(f"pixel budget: min {size['shortest_edge']} > max {size['longest_edge']}")
    image_processor.size = size
