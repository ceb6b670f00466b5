"""``HFEngine``: generation with transformers ``generate`` on the model the trainer holds (or one loaded from disk).

Used where no vLLM is available (CPU CI, debug runs, our own OpenAI-compatible server) and by GRPO when it generates
with the very module it trains (``WeightUpdate(module=...)``: no copy, no sync step that could silently not happen).

Decisions, and why:
- Prompts are encoded exactly as the SFT stage encodes them (``src.data.collate.encode_prompt``: chat template with
  the generation prompt, images through the processor, ``mm_token_type_ids`` that Qwen3-VL's forward needs), so the
  engine asks the judge in the tokens it was trained on.
- Each prompt is repeated ``n`` times as its own row rather than using ``num_return_sequences``: every VLM expands
  its image tensors differently, plain rows need no model-specific code. Rows are sorted by prompt length and cut
  into batches of ``max_batch_size``, left-padded, so padding stays small.
- ``logprobs`` are ``log_softmax(logits / temperature)`` of each sampled token (raw logits when greedy): what a
  trainer recomputes for the importance ratio (TRL divides by the temperature too). They exclude top-k / top-p
  truncation and penalties, which a trainer does not apply either.
- ``token_ids`` include the end-of-sequence token when the model emitted it (vLLM does the same), so a policy
  gradient also trains the decision to stop; ``text`` never shows it.
- ``presence_penalty`` (OpenAI semantics: subtract the penalty from every token already in the completion) is a
  logits processor; transformers runs custom processors before temperature and top-k/top-p, as vLLM does.
- A ``seed`` makes one ``generate`` call reproducible: the torch RNG is forked and seeded around it, so callers'
  random streams are left alone; unseeded calls advance the global stream, so two of them sample differently.
  Batch composition is part of what is reproduced (HF samples a whole batch at once).
- The module is put in eval mode for generation (no dropout in the sampled tokens or their logprobs) and handed
  back in the mode it was in, so GRPO can pass its training module; the KV cache is forced on for the same reason.
- Adapters are named (``load_adapter`` / ``unload_adapter``), so one engine serves the base model and several
  adapters — the server addresses them by ``model`` name, as vLLM does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import LogitsProcessor, LogitsProcessorList

from src.data.collate import encode_prompt, pad_id_of, pad_token_batch
from src.engines.engine import ChatRequest, Completion, EngineError, SamplingSettings, WeightUpdate

_GENERATE_KEYS = (
    "input_ids",
    "attention_mask",
    "mm_token_type_ids",
    "token_type_ids",
    "pixel_values",
    "image_grid_thw",
)


class InvalidRequestError(ValueError):
    """One request cannot be served (bad messages, prompt longer than the context); the others in a batch can."""


@dataclass
class EncodedPrompt:
    """One request as model inputs (token tensors 1-D, image tensors per image), ready to batch."""

    inputs: dict[str, torch.Tensor]

    @property
    def num_tokens(self) -> int:
        return int(self.inputs["input_ids"].shape[0])


class PresencePenaltyLogitsProcessor(LogitsProcessor):
    """OpenAI's presence penalty: ``penalty`` subtracted once from every token already in the completion."""

    def __init__(self, penalty: float, prompt_length: int) -> None:
        self.penalty = penalty
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self.prompt_length :]  # [batch, new tokens so far]
        if generated.shape[1] == 0:
            return scores
        present = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, generated, True)  # [batch, vocab]
        return scores - self.penalty * present.to(scores.dtype)  # type: ignore[return-value]


def request_images(request: ChatRequest) -> list[Image.Image]:
    """The request's PIL images in message order (the order the chat template places their placeholders)."""
    images: list[Image.Image] = []
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, str) or content is None:
            continue
        if not isinstance(content, list):
            raise InvalidRequestError(f"message content must be a string or a list of parts, got {type(content)}")
        for part in content:
            if not isinstance(part, dict):
                raise InvalidRequestError(f"content part must be a dict, got {type(part).__name__}")
            if part.get("type") == "image" or "image" in part:
                image = part.get("image")
                if not isinstance(image, Image.Image):
                    raise InvalidRequestError(f"image part must hold a PIL image, got {type(image).__name__}")
                images.append(image.convert("RGB") if image.mode != "RGB" else image)
    return images


class HFEngine:
    """transformers ``generate`` behind the ``GenerationEngine`` protocol.

    Args:
        model: a loaded vision-language model (``PreTrainedModel`` or ``PeftModel``), in eval mode for serving.
        processor: its processor (chat template, tokenizer, image processor).
        max_batch_size: rows (prompts × n) per ``generate`` call; bounds activation memory.
        max_context: prompt + completion token limit; default: the model's ``max_position_embeddings``.
    """

    def __init__(self, model: Any, processor: Any, max_batch_size: int = 16, max_context: int | None = None) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size: must be >= 1, got {max_batch_size}")
        self.model = model
        self.processor = processor
        self.max_batch_size = max_batch_size
        self.max_context = max_context or _max_positions(model)
        self.weights_version = 0
        self.pad_id = pad_id_of(processor)
        self.eos_ids = _eos_ids(model, processor)
        self._adapters: dict[str, str] = {}  # adapter name -> directory it came from

    # -- construction ------------------------------------------------------------------------------------------------
    @classmethod
    def from_loader(cls, loader: Any, max_batch_size: int = 16) -> HFEngine:
        """Load with ``src.models.loading.load_vlm`` (same dtype/attention/adapter decisions as training)."""
        from src.models.loading import load_vlm

        model, processor = load_vlm(loader)
        return cls(model.eval(), processor, max_batch_size=max_batch_size)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, dtype: str = "float32", max_batch_size: int = 16) -> HFEngine:
        """A checkpoint directory or HF id, no adapters (``dtype`` float32 on CPU, bfloat16 on a GPU)."""
        from src.models.loading import VLMLoader

        loader = VLMLoader(name_or_path=str(name_or_path), dtype=dtype, freeze_vision=False)  # type: ignore[arg-type]
        return cls.from_loader(loader, max_batch_size=max_batch_size)

    # -- the protocol --------------------------------------------------------------------------------------------------
    def generate(
        self,
        requests: Sequence[ChatRequest],
        n: int = 1,
        sampling: SamplingSettings | None = None,
        adapter: str | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions per request, in request order. ``adapter`` names a loaded adapter; None = current."""
        sampling = sampling or SamplingSettings()
        prompts = [self.encode(r, sampling) for r in requests]
        return self.generate_encoded(prompts, n, sampling, adapter)

    def update_weights(self, update: WeightUpdate) -> None:
        """Generate with ``update.module`` itself, load ``update.adapter_dir``, or copy ``update.state_dict`` in."""
        given = [x is not None for x in (update.module, update.adapter_dir, update.state_dict)]
        if sum(given) != 1:
            raise ValueError("WeightUpdate: give exactly one of module, adapter_dir, state_dict")
        if update.module is not None:
            self.model = update.module
            self._adapters.clear()
        elif update.adapter_dir is not None:
            previous = [name for name in self._adapters if name.startswith("policy-v")]
            name = f"policy-v{update.version}"
            self.load_adapter(name, update.adapter_dir)
            for old in previous:  # keep memory flat over a run: only the newest policy adapter stays
                if old != name:
                    self.unload_adapter(old)
        else:
            assert update.state_dict is not None
            result = self.model.load_state_dict(update.state_dict, strict=False)
            if result.unexpected_keys:
                raise EngineError(f"state_dict has weights the model lacks: {result.unexpected_keys[:5]}")
        self.weights_version = update.version

    def close(self) -> None:
        self.model = None

    # -- adapters -------------------------------------------------------------------------------------------------------
    @property
    def adapters(self) -> list[str]:
        return list(self._adapters)

    def load_adapter(self, name: str, adapter_dir: str | Path) -> None:
        """Add a saved peft adapter under ``name`` and make it the active one."""
        from peft import PeftModel

        adapter_dir = Path(adapter_dir)
        if not (adapter_dir / "adapter_config.json").is_file():
            raise EngineError(f"{adapter_dir}: no adapter_config.json (not a peft adapter directory)")
        if name in self._adapters:
            raise EngineError(f"adapter {name!r} is already loaded (from {self._adapters[name]})")
        try:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(str(adapter_dir), adapter_name=name, is_trainable=False)
                self.model.set_adapter(name)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(adapter_dir), adapter_name=name).eval()
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            raise EngineError(f"{adapter_dir}: cannot load adapter: {exc}") from exc
        self._adapters[name] = str(adapter_dir)

    def unload_adapter(self, name: str) -> None:
        if name not in self._adapters:
            raise EngineError(f"adapter {name!r} is not loaded; loaded: {sorted(self._adapters)}")
        del self._adapters[name]
        remaining = [a for a in self.model.peft_config if a != name]
        if not remaining:  # peft cannot hold zero adapters: take the LoRA layers out, back to the plain model
            self.model = self.model.unload()
            return
        if self.model.active_adapter == name:
            self.model.set_adapter(remaining[-1])
        self.model.delete_adapter(name)

    # -- encoding and generation ------------------------------------------------------------------------------------
    def encode(self, request: ChatRequest, sampling: SamplingSettings | None = None) -> EncodedPrompt:
        """Model inputs of one request; ``InvalidRequestError`` (with the reason) when it cannot be served."""
        if not request.messages:
            raise InvalidRequestError("messages: empty")
        images = request_images(request)
        try:
            inputs = encode_prompt(self.processor, request.messages, images)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InvalidRequestError(f"cannot encode the messages: {exc}") from exc
        prompt = EncodedPrompt(inputs)
        budget = (sampling or SamplingSettings()).max_new_tokens
        if prompt.num_tokens + budget > self.max_context:
            raise InvalidRequestError(
                f"prompt has {prompt.num_tokens} tokens; with max_tokens {budget} that exceeds the context of "
                f"{self.max_context} tokens"
            )
        return prompt

    @torch.no_grad()
    def generate_encoded(
        self,
        prompts: Sequence[EncodedPrompt],
        n: int = 1,
        sampling: SamplingSettings | None = None,
        adapter: str | None = None,
    ) -> list[list[Completion]]:
        """Like ``generate`` for prompts already encoded (the server encodes each request on its own first)."""
        if n < 1:
            raise ValueError(f"n: must be >= 1, got {n}")
        if self.model is None:
            raise EngineError("engine is closed")
        sampling = sampling or SamplingSettings()
        rows = [(i, prompt) for i, prompt in enumerate(prompts) for _ in range(n)]
        rows.sort(key=lambda row: row[1].num_tokens)  # similar lengths share a batch: less padding
        results: list[list[Completion]] = [[] for _ in prompts]
        # Fork the RNG only for a seeded call: forking an unseeded one would restore the same state afterwards, so
        # every later unseeded call would draw the very same samples (GRPO groups of identical rollouts).
        seeded = sampling.seed is not None
        with (
            torch.random.fork_rng(devices=_rng_devices(self.model)) if seeded else nullcontext(),
            _eval_mode(self.model),
            self._adapter_scope(adapter),
        ):
            if seeded:
                torch.manual_seed(sampling.seed)
            for start in range(0, len(rows), self.max_batch_size):
                chunk = rows[start : start + self.max_batch_size]
                for (i, _), completion in zip(
                    chunk, self._generate_batch([p for _, p in chunk], sampling), strict=True
                ):
                    results[i].append(completion)
        return results

    def _generate_batch(self, prompts: list[EncodedPrompt], sampling: SamplingSettings) -> list[Completion]:
        batch = pad_token_batch([p.inputs for p in prompts], self.pad_id, side="left")
        for key in ("pixel_values", "image_grid_thw"):  # pad_token_batch looks at row 0 only; text rows have none
            with_key = [p.inputs[key] for p in prompts if key in p.inputs]
            batch.pop(key, None)
            if with_key:
                batch[key] = torch.cat(with_key)
        device, dtype = _device_and_dtype(self.model)
        inputs = {k: v.to(device) for k, v in batch.items() if k in _GENERATE_KEYS}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        prompt_length = inputs["input_ids"].shape[1]
        greedy = sampling.temperature == 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "do_sample": not greedy,
            "repetition_penalty": sampling.repetition_penalty,
            "pad_token_id": self.pad_id,
            "eos_token_id": self.eos_ids,
            "return_dict_in_generate": True,
            "output_logits": True,
            "use_cache": True,  # a training config may have turned the KV cache off (gradient checkpointing)
        }
        if not greedy:  # explicit values override whatever the checkpoint's generation_config suggests
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=max(sampling.top_k, 0))
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if sampling.presence_penalty:
            kwargs["logits_processor"] = LogitsProcessorList(
                [PresencePenaltyLogitsProcessor(sampling.presence_penalty, prompt_length)]
            )
        out = self.model.generate(**inputs, **kwargs)
        new_tokens = out.sequences[:, prompt_length:].cpu()  # [batch, steps]
        logits = torch.stack(out.logits, dim=1).float()  # [batch, steps, vocab]
        scale = 1.0 if greedy else sampling.temperature
        token_logprobs = torch.log_softmax(logits / scale, dim=-1).gather(-1, new_tokens[..., None].to(logits.device))
        token_logprobs = token_logprobs[..., 0].cpu()  # [batch, steps]
        completions = []
        for row, prompt in enumerate(prompts):
            ids = new_tokens[row].tolist()
            stop_at = next((j for j, t in enumerate(ids) if t in self.eos_ids), None)
            length = len(ids) if stop_at is None else stop_at + 1
            kept = ids[:length]
            text_ids = kept if stop_at is None else kept[:-1]
            completions.append(
                Completion(
                    text=self.processor.tokenizer.decode(text_ids, skip_special_tokens=True),
                    finish_reason="length" if stop_at is None else "stop",
                    token_ids=kept,
                    logprobs=token_logprobs[row, :length].tolist(),
                    prompt_tokens=prompt.num_tokens,
                )
            )
        return completions

    def _adapter_scope(self, adapter: str | None) -> Any:
        """Activate the named adapter for one call; ``""`` = the base model with adapters off."""
        if adapter is None:
            return nullcontext()
        if adapter == "":
            return self.model.disable_adapter() if hasattr(self.model, "disable_adapter") else nullcontext()
        if adapter not in self._adapters:
            raise EngineError(f"adapter {adapter!r} is not loaded; loaded: {sorted(self._adapters)}")
        self.model.set_adapter(adapter)
        return nullcontext()


@contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Generate without dropout even when the module is mid-training (GRPO), then give it back in its mode."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _max_positions(model: Any) -> int:
    config = model.config
    text_config = getattr(config, "text_config", None) or config
    value = getattr(text_config, "max_position_embeddings", None)
    return int(value) if value else 32768


def _eos_ids(model: Any, processor: Any) -> list[int]:
    ids: list[int] = []
    generation_config = getattr(model, "generation_config", None)
    eos = getattr(generation_config, "eos_token_id", None)
    if eos is not None:
        ids.extend(eos if isinstance(eos, list) else [eos])
    if processor.tokenizer.eos_token_id is not None:
        ids.append(int(processor.tokenizer.eos_token_id))
    if not ids:
        raise EngineError("neither the generation config nor the tokenizer names an end-of-sequence token")
    return sorted(set(ids))


def _device_and_dtype(model: Any) -> tuple[torch.device, torch.dtype]:
    param = next(model.parameters())
    dtype = param.dtype if param.dtype.is_floating_point else torch.float32
    return param.device, dtype


def _rng_devices(model: Any) -> list[int]:
    device = _device_and_dtype(model)[0]
    return [device.index or 0] if device.type == "cuda" else []


__all__ = ["EncodedPrompt", "HFEngine", "InvalidRequestError", "PresencePenaltyLogitsProcessor", "request_images"]


def hf_engine(name_or_path: str, dtype: str = "float32", max_batch_size: int = 16) -> HFEngine:
    """``HFEngine.from_pretrained`` as a plain callable, so a YAML ``class_path`` can name it (a judge or a policy
    in process on a checkpoint directory)."""
    return HFEngine.from_pretrained(name_or_path, dtype=dtype, max_batch_size=max_batch_size)
