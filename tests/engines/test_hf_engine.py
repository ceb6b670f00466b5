"""HFEngine on the tiny Qwen3-VL: batching does not change answers, logprobs are the model's, sampling is seeded,
generation stops on EOS, and new weights (live module, adapter, state dict) reach the next generate call."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForImageTextToText

from src.engines.engine import ChatRequest, EngineError, GenerationEngine, SamplingSettings, WeightUpdate
from src.engines.hf_engine import HFEngine, InvalidRequestError
from src.models.loading import VLMLoader
from tests.engines.conftest import judge_request, text_request

GREEDY = SamplingSettings(temperature=0.0, max_new_tokens=12)
SAMPLED = SamplingSettings(temperature=1.0, max_new_tokens=12, seed=5)


@pytest.fixture(scope="module")
def engine(tiny_vlm, tiny_processor) -> HFEngine:
    return HFEngine(tiny_vlm, tiny_processor, max_batch_size=4)


def _fresh_model(tiny_model_dir: Path):
    return AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval()


def test_is_a_generation_engine(engine: HFEngine) -> None:
    assert isinstance(engine, GenerationEngine)


def test_batched_left_padded_answers_equal_one_at_a_time(engine: HFEngine) -> None:
    requests = [judge_request("chart", 0), text_request(), judge_request("svg", 2)]  # very different lengths
    batched = engine.generate(requests, n=2, sampling=GREEDY)
    assert [len(group) for group in batched] == [2, 2, 2]
    for request, group in zip(requests, batched, strict=True):
        alone = engine.generate([request], n=1, sampling=GREEDY)[0][0]
        assert group[0].token_ids == group[1].token_ids == alone.token_ids  # greedy: n copies agree
        assert group[0].text == alone.text
    assert batched[0][0].prompt_tokens > batched[1][0].prompt_tokens  # images cost tokens


def test_logprobs_are_the_models_log_probabilities_of_the_sampled_tokens(engine: HFEngine, tiny_vlm) -> None:
    request = judge_request("table", 1)
    completion = engine.generate([request, text_request()], n=1, sampling=SAMPLED)[0][0]
    assert len(completion.logprobs) == len(completion.token_ids) > 0
    # Teacher-forced forward pass over prompt + completion, unpadded: what a trainer recomputes.
    prompt = engine.encode(request).inputs
    ids = torch.tensor(completion.token_ids)
    full = {
        "input_ids": torch.cat([prompt["input_ids"], ids])[None],
        "attention_mask": torch.ones(1, prompt["input_ids"].shape[0] + len(ids), dtype=torch.long),
        "mm_token_type_ids": torch.cat([prompt["mm_token_type_ids"], torch.zeros_like(ids)])[None],
        "pixel_values": prompt["pixel_values"],
        "image_grid_thw": prompt["image_grid_thw"],
    }
    with torch.no_grad():
        logits = tiny_vlm(**full).logits[0, prompt["input_ids"].shape[0] - 1 : -1]  # [completion, vocab]
    expected = torch.log_softmax(logits / SAMPLED.temperature, dim=-1).gather(-1, ids[:, None])[:, 0]
    torch.testing.assert_close(torch.tensor(completion.logprobs), expected, atol=2e-3, rtol=1e-3)


def test_sampling_is_seeded_and_n_samples_differ(engine: HFEngine) -> None:
    requests = [judge_request("chart", 4)]
    first = engine.generate(requests, n=3, sampling=SAMPLED)
    again = engine.generate(requests, n=3, sampling=SAMPLED)
    other = engine.generate(requests, n=3, sampling=SamplingSettings(temperature=1.0, max_new_tokens=12, seed=6))
    ids = [c.token_ids for c in first[0]]
    assert ids == [c.token_ids for c in again[0]]
    assert ids != [c.token_ids for c in other[0]]
    assert len({tuple(x) for x in ids}) == 3  # a random 3k-token vocab never repeats 12 tokens by chance


def test_unseeded_calls_draw_new_samples(engine: HFEngine) -> None:
    # An unseeded call once restored the RNG it forked, so every unseeded call repeated the previous samples.
    unseeded = SamplingSettings(temperature=1.0, max_new_tokens=12)
    first = engine.generate([judge_request("chart", 4)], n=2, sampling=unseeded)
    second = engine.generate([judge_request("chart", 4)], n=2, sampling=unseeded)
    assert [c.token_ids for c in first[0]] != [c.token_ids for c in second[0]]


def test_generation_stops_on_eos_and_trims_each_row(tiny_vlm, tiny_processor) -> None:
    engine = HFEngine(tiny_vlm, tiny_processor)
    long_run = engine.generate([text_request()], sampling=GREEDY)[0][0].token_ids
    # Declare the first token that has not occurred before (after two steps) an end-of-sequence token.
    stop_at = next(j for j in range(2, len(long_run)) if long_run[j] not in long_run[:j])
    engine.eos_ids = [*engine.eos_ids, long_run[stop_at]]
    stopped, other = engine.generate([text_request(), judge_request("chart", 0)], sampling=GREEDY)
    assert stopped[0].finish_reason == "stop"
    assert stopped[0].token_ids == long_run[: stop_at + 1]  # the stop token is kept in the ids ...
    assert len(stopped[0].logprobs) == stop_at + 1
    assert stopped[0].text == tiny_processor.tokenizer.decode(long_run[:stop_at], skip_special_tokens=True)  # not text
    if long_run[stop_at] not in other[0].token_ids:  # the batch-mate went on to its own end
        assert other[0].finish_reason == "length" and len(other[0].token_ids) == GREEDY.max_new_tokens


def test_presence_penalty_stops_repeats(engine: HFEngine) -> None:
    settings = SamplingSettings(temperature=0.0, max_new_tokens=24)
    plain = engine.generate([text_request()], sampling=settings)[0][0].token_ids
    assert len(set(plain)) < len(plain), "precondition: the tiny model repeats itself when greedy"
    penalized = engine.generate(
        [text_request()], sampling=SamplingSettings(**{**settings.__dict__, "presence_penalty": 100.0})
    )
    ids = penalized[0][0].token_ids
    assert len(set(ids)) == len(ids)


def test_update_with_live_module_generates_with_that_module(tiny_model_dir: Path, tiny_processor) -> None:
    model = _fresh_model(tiny_model_dir)
    engine = HFEngine(_fresh_model(tiny_model_dir), tiny_processor)
    before = engine.generate([text_request()], sampling=GREEDY)[0][0].token_ids
    engine.update_weights(WeightUpdate(version=3, module=model))
    assert engine.model is model and engine.weights_version == 3
    with torch.no_grad():
        model.lm_head.weight.mul_(-1.0)  # a training step in place: no new update call needed
    after = engine.generate([text_request()], sampling=GREEDY)[0][0].token_ids
    assert after != before
    model.train()  # mid-training: dropout on, no KV cache, as a GRPO stage holds it
    model.config.text_config.use_cache = False
    for module in model.modules():  # the tiny config has no dropout; give its attention some, as LoRA has
        if hasattr(module, "attention_dropout"):
            module.attention_dropout = 0.5
    assert engine.generate([text_request()], sampling=GREEDY)[0][0].token_ids == after  # generated in eval mode
    assert model.training  # and handed back in training mode


def test_adapter_update_changes_generation_and_unloads_the_previous(
    tiny_model_dir: Path, tiny_processor, tiny_adapter: Path
) -> None:
    engine = HFEngine(_fresh_model(tiny_model_dir), tiny_processor)
    requests = [judge_request("svg", 1)]
    base = engine.generate(requests, sampling=GREEDY)[0][0].token_ids
    engine.update_weights(WeightUpdate(version=1, adapter_dir=tiny_adapter))
    tuned = engine.generate(requests, sampling=GREEDY)[0][0].token_ids
    assert tuned != base
    engine.update_weights(WeightUpdate(version=2, adapter_dir=tiny_adapter))
    assert engine.adapters == ["policy-v2"] and engine.weights_version == 2
    assert engine.generate(requests, sampling=GREEDY)[0][0].token_ids == tuned  # same weights, new name
    assert engine.generate(requests, sampling=GREEDY, adapter="")[0][0].token_ids == base  # adapters off
    engine.unload_adapter("policy-v2")
    assert engine.generate(requests, sampling=GREEDY)[0][0].token_ids == base
    with pytest.raises(EngineError, match="not a peft adapter"):
        engine.load_adapter("x", tiny_model_dir)


def test_state_dict_update_loads_tensors_and_rejects_unknown_names(tiny_model_dir: Path, tiny_processor) -> None:
    engine = HFEngine(_fresh_model(tiny_model_dir), tiny_processor)
    before = engine.generate([text_request()], sampling=GREEDY)[0][0].token_ids
    flipped = {"lm_head.weight": -engine.model.lm_head.weight.detach().clone()}
    engine.update_weights(WeightUpdate(version=1, state_dict=flipped))
    assert engine.generate([text_request()], sampling=GREEDY)[0][0].token_ids != before
    with pytest.raises(EngineError, match="lacks"):
        engine.update_weights(WeightUpdate(version=2, state_dict={"no.such.weight": torch.zeros(1)}))


def test_bad_requests_are_typed_errors(engine: HFEngine) -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        engine.generate([ChatRequest(messages=[])])
    with pytest.raises(InvalidRequestError, match="PIL image"):
        engine.generate([ChatRequest(messages=[{"role": "user", "content": [{"type": "image", "image": 3}]}])])
    with pytest.raises(InvalidRequestError, match="exceeds the context"):
        engine.generate([text_request("word " * 50)], sampling=SamplingSettings(max_new_tokens=engine.max_context))


def test_from_loader_loads_a_saved_adapter(tiny_model_dir: Path, tiny_adapter: Path, engine: HFEngine) -> None:
    loaded = HFEngine.from_loader(VLMLoader(str(tiny_model_dir), dtype="float32", adapter=str(tiny_adapter)))
    via_update = HFEngine.from_pretrained(tiny_model_dir)
    via_update.update_weights(WeightUpdate(version=1, adapter_dir=tiny_adapter))
    request = [judge_request("chart", 2)]
    assert loaded.generate(request, sampling=GREEDY) == via_update.generate(request, sampling=GREEDY)
    assert loaded.generate(request, sampling=GREEDY) != engine.generate(request, sampling=GREEDY)
