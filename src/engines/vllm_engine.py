"""``VLLMEngine``: an in-process ``vllm.LLM`` colocated with training, behind the ``GenerationEngine`` protocol.

vLLM is a GPU-only optional dependency, imported when the engine is built; without it the constructor raises
``EngineError`` naming the fix, and the rest of the package never imports it. What can be checked without vLLM —
how a ``ChatRequest`` becomes a vLLM prompt and how ``SamplingSettings`` become ``SamplingParams`` — lives in plain
functions (``vllm_prompt``, ``sampling_params_kwargs``, ``completions_from_output``) tested on CPU.

Decisions, and why:
- Prompts are rendered with the model's own processor chat template (the same text ``HFEngine`` tokenizes) and
  handed to vLLM as ``{"prompt", "multi_modal_data": {"image": [...]}}``; vLLM expands the image placeholders itself.
  So HF and vLLM engines ask the model the same question.
- ``logprobs=0`` makes vLLM return the log-probability of each sampled token (and nothing else), which GRPO's
  importance-sampling correction needs. vLLM computes them from the raw model output unless ``logprobs_mode`` says
  otherwise (``processed_logprobs`` matches ``HFEngine``: after temperature); ``logprobs_mode`` passes it through.
- ``sleep(level)`` / ``wake_up(tags)`` free the GPU for the training step (``enable_sleep_mode``); waking weights
  first and the KV cache after loading new weights avoids the out-of-memory on wake-up that colocated users report.
- New weights: an adapter directory becomes a ``LoRARequest`` with a fresh integer id per version (vLLM caches
  adapters by id, so reusing an id would silently keep the old weights); full weights go through the model's
  ``load_weights``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src.engines.engine import ChatRequest, Completion, EngineError, SamplingSettings, WeightUpdate
from src.engines.hf_engine import request_images


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def vllm_prompt(request: ChatRequest, processor: Any) -> dict[str, Any]:
    """A vLLM prompt dict: the chat-template text with image placeholders, and the PIL images in message order."""
    images = request_images(request)
    text = processor.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
    prompt: dict[str, Any] = {"prompt": text}
    if images:
        prompt["multi_modal_data"] = {"image": images}
    return prompt


def sampling_params_kwargs(sampling: SamplingSettings, n: int) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for our settings (vLLM keeps all tokens with top_k = -1)."""
    kwargs: dict[str, Any] = {
        "n": n,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k if sampling.top_k > 0 else -1,
        "max_tokens": sampling.max_new_tokens,
        "presence_penalty": sampling.presence_penalty,
        "repetition_penalty": sampling.repetition_penalty,
        "logprobs": 0,  # the sampled token's own log-probability
    }
    if sampling.seed is not None:
        kwargs["seed"] = sampling.seed
    return kwargs


def completions_from_output(output: Any) -> list[Completion]:
    """One vLLM ``RequestOutput`` → our completions (text, token ids, per-token logprobs, finish reason)."""
    prompt_tokens = len(output.prompt_token_ids or ())
    completions = []
    for sample in sorted(output.outputs, key=lambda o: o.index):
        token_ids = list(sample.token_ids)
        logprobs = None
        if sample.logprobs is not None:  # one {token id: Logprob} dict per generated token
            logprobs = [step[token].logprob for token, step in zip(token_ids, sample.logprobs, strict=True)]
        completions.append(
            Completion(
                text=sample.text,
                finish_reason="length" if sample.finish_reason == "length" else "stop",
                token_ids=token_ids,
                logprobs=logprobs,
                prompt_tokens=prompt_tokens,
            )
        )
    return completions


class VLLMEngine:
    """In-process ``vllm.LLM``.

    Args:
        model: Hugging Face id or local checkpoint (a merged model; LoRA adapters come through ``update_weights``).
        gpu_memory_utilization: fraction of the GPU vLLM may take; colocated with training keep it low (0.3-0.5).
        max_model_len: context length to reserve KV cache for.
        dtype: weights dtype in vLLM.
        enable_lora: serve LoRA adapters (``update_weights(adapter_dir=...)``); ``max_lora_rank`` must cover them.
        max_lora_rank: the largest adapter rank to expect.
        enable_sleep_mode: allow ``sleep``/``wake_up`` (CUDA only).
        max_images: images per prompt (the critic sends two).
        tensor_parallel_size: GPUs per engine.
        seed: vLLM's global seed.
        logprobs_mode: what logprobs mean (``raw_logprobs`` or ``processed_logprobs``), on vLLM versions that have it.
    """

    def __init__(
        self,
        model: str,
        gpu_memory_utilization: float = 0.4,
        max_model_len: int = 8192,
        dtype: str = "bfloat16",
        enable_lora: bool = False,
        max_lora_rank: int = 64,
        enable_sleep_mode: bool = True,
        max_images: int = 2,
        tensor_parallel_size: int = 1,
        seed: int = 0,
        logprobs_mode: str | None = "processed_logprobs",
    ) -> None:
        if not vllm_available():
            raise EngineError(
                "VLLMEngine needs vllm (a CUDA machine: pip install 'visual-erm[gpu]'); on CPU use HFEngine, or "
                "OpenAIEngine against a `vllm serve` / tools/serve_openai.py server"
            )
        import vllm

        kwargs: dict[str, Any] = {
            "model": model,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "dtype": dtype,
            "enable_lora": enable_lora,
            "enable_sleep_mode": enable_sleep_mode,
            "limit_mm_per_prompt": {"image": max_images},
            "tensor_parallel_size": tensor_parallel_size,
            "seed": seed,
        }
        if enable_lora:
            kwargs["max_lora_rank"] = max_lora_rank
        if logprobs_mode is not None:
            kwargs["logprobs_mode"] = logprobs_mode
        self._vllm = vllm
        self.llm = vllm.LLM(**kwargs)
        from src.models.processor import load_processor

        self.processor = load_processor(model)
        self.weights_version = 0
        self._lora: Any = None  # the LoRARequest generation uses, if any
        self.asleep = False

    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]:
        if self.asleep:
            raise EngineError("VLLMEngine is asleep: call wake_up() before generate()")
        sampling = sampling or SamplingSettings()
        prompts = [vllm_prompt(r, self.processor) for r in requests]
        params = self._vllm.SamplingParams(**sampling_params_kwargs(sampling, n))
        outputs = self.llm.generate(prompts, sampling_params=params, lora_request=self._lora, use_tqdm=False)
        return [completions_from_output(o) for o in outputs]

    def update_weights(self, update: WeightUpdate) -> None:
        if update.adapter_dir is not None:
            from vllm.lora.request import LoRARequest

            adapter_dir = Path(update.adapter_dir)
            if not (adapter_dir / "adapter_config.json").is_file():
                raise EngineError(f"{adapter_dir}: no adapter_config.json (not a peft adapter directory)")
            previous = self._lora
            # A fresh int id per version: vLLM caches adapters by id and would keep serving the old weights.
            self._lora = LoRARequest(f"policy-v{update.version}", update.version + 1, str(adapter_dir))
            if previous is not None:
                self.llm.llm_engine.remove_lora(previous.lora_int_id)
        else:
            weights = update.state_dict
            if weights is None and update.module is not None:
                weights = {k: v.detach() for k, v in update.module.state_dict().items()}
            if weights is None:
                raise ValueError("WeightUpdate: give adapter_dir, state_dict or module")
            self._model_runner_model().load_weights(weights=list(weights.items()))
            self.llm.reset_prefix_cache()  # cached KV blocks were computed with the old weights
        self.weights_version = update.version

    def sleep(self, level: int = 1) -> None:
        """Free the GPU: level 1 keeps weights in CPU memory, level 2 drops them (reload with update_weights)."""
        self.llm.sleep(level=level)
        self.asleep = True

    def wake_up(self, tags: list[str] | None = None) -> None:
        """``["weights"]`` first, load new weights, then ``["kv_cache"]``: peak memory stays one copy lower."""
        self.llm.wake_up(tags=tags)
        self.asleep = tags is not None and "kv_cache" not in tags

    def close(self) -> None:
        del self.llm

    def _model_runner_model(self) -> Any:
        executor = self.llm.llm_engine.model_executor
        for path in ("driver_worker.worker.model_runner.model", "driver_worker.model_runner.model"):
            obj: Any = executor
            try:
                for attr in path.split("."):
                    obj = getattr(obj, attr)
            except AttributeError:
                continue
            return obj
        raise EngineError(
            "this vLLM version hides the model in another process (set VLLM_ENABLE_V1_MULTIPROCESSING=0 for in-process "
            "weight loading), or load weights as a LoRA adapter instead"
        )
