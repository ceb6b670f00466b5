"""VLLMEngine's request building without vLLM: the prompt text and images vLLM receives, the SamplingParams fields,
the conversion of vLLM's outputs, and the clear error where vLLM is not installed."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from src.engines.engine import EngineError, SamplingSettings
from src.engines.vllm_engine import (
    VLLMEngine,
    completions_from_output,
    sampling_params_kwargs,
    vllm_available,
    vllm_prompt,
)
from tests.engines.conftest import judge_request, text_request

PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"


def test_prompt_is_the_chat_template_text_with_the_images_in_order(tiny_processor) -> None:
    request = judge_request("chart", 0)
    prompt = vllm_prompt(request, tiny_processor)
    parts = request.messages[0]["content"]
    assert prompt["multi_modal_data"]["image"] == [parts[0]["image"], parts[1]["image"]]  # reference first
    assert prompt["prompt"] == tiny_processor.apply_chat_template(
        request.messages, tokenize=False, add_generation_prompt=True
    )
    assert prompt["prompt"].count(PLACEHOLDER) == 2  # vLLM expands each to the image's tokens
    assert prompt["prompt"].endswith("<|im_start|>assistant\n")
    assert "multi_modal_data" not in vllm_prompt(text_request(), tiny_processor)


def test_sampling_params_follow_the_settings() -> None:
    settings = SamplingSettings(
        temperature=0.7, top_p=0.8, top_k=20, max_new_tokens=4096, presence_penalty=1.5, repetition_penalty=1.05, seed=3
    )
    assert sampling_params_kwargs(settings, n=8) == {
        "n": 8,
        "temperature": 0.7,
        "top_p": 0.8,
        "top_k": 20,
        "max_tokens": 4096,
        "presence_penalty": 1.5,
        "repetition_penalty": 1.05,
        "logprobs": 0,
        "seed": 3,
    }
    unlimited = sampling_params_kwargs(SamplingSettings(top_k=0), n=1)
    assert unlimited["top_k"] == -1 and "seed" not in unlimited
    if vllm_available():
        import vllm

        vllm.SamplingParams(**sampling_params_kwargs(settings, n=8))


def test_outputs_become_completions_with_token_logprobs() -> None:
    def logprob(value: float) -> SimpleNamespace:
        return SimpleNamespace(logprob=value, rank=1, decoded_token="x")

    output = SimpleNamespace(  # the fields of vllm.RequestOutput / CompletionOutput we read
        prompt_token_ids=[1, 2, 3, 4],
        outputs=[
            SimpleNamespace(
                index=1,
                text="b",
                token_ids=[7],
                logprobs=[{7: logprob(-0.5)}],
                finish_reason="length",
            ),
            SimpleNamespace(
                index=0,
                text="a!",
                token_ids=[5, 6],
                logprobs=[{5: logprob(-0.1), 9: logprob(-3.0)}, {6: logprob(-0.2)}],
                finish_reason="stop",
            ),
        ],
    )
    first, second = completions_from_output(output)
    assert (first.text, first.token_ids, first.logprobs, first.finish_reason) == ("a!", [5, 6], [-0.1, -0.2], "stop")
    assert (second.finish_reason, second.logprobs, second.prompt_tokens) == ("length", [-0.5], 4)


@pytest.mark.skipif(vllm_available(), reason="vllm is installed here")
def test_without_vllm_the_engine_says_what_to_do() -> None:
    with pytest.raises(EngineError, match="needs vllm.*HFEngine"):
        VLLMEngine("some/model")


class _FakeLLM:
    """The part of ``vllm.LLM`` the engine drives, with vLLM's adapter cache: the first adapter loaded under an integer
    id is the one served for that id until it is removed. "Generating" returns the served adapter's marker file."""

    def __init__(self, **kwargs) -> None:
        self.cache: dict[int, str] = {}
        self.llm_engine = SimpleNamespace(remove_lora=lambda lora_id: self.cache.pop(lora_id, None) is not None)

    def generate(self, prompts, sampling_params, lora_request, use_tqdm):
        served = "base"
        if lora_request is not None:
            path = self.cache.setdefault(lora_request.lora_int_id, lora_request.lora_path)
            served = (Path(path) / "marker.txt").read_text()
        output = SimpleNamespace(index=0, text=served, token_ids=[1], logprobs=None, finish_reason="stop")
        return [SimpleNamespace(prompt_token_ids=[0], outputs=[output]) for _ in prompts]


def test_each_new_adapter_is_served_not_the_first_one_vllm_cached(monkeypatch, tiny_model_dir, tmp_path) -> None:
    from src.engines.engine import WeightUpdate

    fake = ModuleType("vllm")
    fake.LLM = _FakeLLM  # type: ignore[attr-defined]
    fake.SamplingParams = lambda **kwargs: kwargs  # type: ignore[attr-defined]
    request_module = ModuleType("vllm.lora.request")
    request_module.LoRARequest = lambda name, lora_int_id, lora_path: SimpleNamespace(  # type: ignore[attr-defined]
        lora_name=name, lora_int_id=lora_int_id, lora_path=lora_path
    )
    for name, module in {
        "vllm": fake,
        "vllm.lora": ModuleType("vllm.lora"),
        "vllm.lora.request": request_module,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr("src.engines.vllm_engine.vllm_available", lambda: True)

    engine = VLLMEngine(str(tiny_model_dir), enable_lora=True)
    served = []
    for version in (1, 2, 3):
        adapter = tmp_path / f"v{version}"
        adapter.mkdir()
        (adapter / "adapter_config.json").write_text("{}")
        (adapter / "marker.txt").write_text(f"policy v{version}")
        engine.update_weights(WeightUpdate(version=version, adapter_dir=adapter))
        served.append(engine.generate([text_request()])[0][0].text)
    assert served == ["policy v1", "policy v2", "policy v3"]
    assert len(engine.llm.cache) == 1  # the previous adapters were removed, not left to fill vLLM's slots
