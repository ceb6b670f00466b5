"""VLLMEngine's request building without vLLM: the prompt text and images vLLM receives, the SamplingParams fields,
the conversion of vLLM's outputs, and the clear error where vLLM is not installed."""

from __future__ import annotations

from types import SimpleNamespace

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
