"""OpenAIEngine against our server over real HTTP on 127.0.0.1 (tiny model): same answers as the engine behind it,
token ids and logprobs, LoRA hot-loading that changes generation, load spread over servers, and no request lost when
a server stops answering, is stopped or is killed mid-run."""

from __future__ import annotations

import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from transformers import AutoModelForImageTextToText

from src.engines.engine import EngineError, GenerationEngine, SamplingSettings, WeightUpdate
from src.engines.hf_engine import HFEngine
from src.engines.openai_engine import OpenAIEngine
from src.engines.server import BackgroundServer, ServerSettings, create_app
from tests.engines.conftest import free_port, judge_request, start_server_process, text_request

MODEL = "tiny-judge"
REPO = Path(__file__).resolve().parents[2]
GREEDY = SamplingSettings(temperature=0.0, max_new_tokens=8)


def _server(tiny_model_dir: Path, tiny_processor, port: int = 0) -> BackgroundServer:
    engine = HFEngine(AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval(), tiny_processor)
    return BackgroundServer(create_app(engine, ServerSettings(served_model_name=MODEL, max_tokens_limit=64)), port=port)


def _scheduler(server: BackgroundServer):
    return server._server.config.app.state.scheduler


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tiny_processor) -> Iterator[BackgroundServer]:
    with _server(tiny_model_dir, tiny_processor) as running:
        yield running


@pytest.fixture(scope="module")
def direct(tiny_vlm, tiny_processor) -> HFEngine:
    return HFEngine(tiny_vlm, tiny_processor)


def test_answers_token_ids_and_logprobs_equal_the_engine_behind_the_server(server, direct: HFEngine) -> None:
    engine = OpenAIEngine(server.base_url, request_logprobs=True, timeout_s=120)
    assert isinstance(engine, GenerationEngine)
    assert engine.model == MODEL  # discovered from /v1/models
    requests = [judge_request("chart", 0), text_request(), judge_request("table", 1)]
    remote = engine.generate(requests, n=2, sampling=GREEDY)
    local = direct.generate(requests, n=2, sampling=GREEDY)
    for got, want in zip(remote, local, strict=True):
        assert [c.text for c in got] == [c.text for c in want]
        assert [c.token_ids for c in got] == [c.token_ids for c in want]
        assert got[0].prompt_tokens == want[0].prompt_tokens and got[0].error is None
        for a, b in zip(got[0].logprobs, want[0].logprobs, strict=True):
            assert a == pytest.approx(b, abs=1e-4)
    jpeg = judge_request("svg", 2)
    jpeg = type(jpeg)(messages=jpeg.messages, image_format="jpeg")  # the released judge's encoding
    assert engine.generate([jpeg], sampling=GREEDY)[0][0].error is None
    engine.close()


def test_request_errors_come_back_as_completions_not_exceptions(server) -> None:
    engine = OpenAIEngine(server.base_url, model="no-such-model", timeout_s=60)
    (completion,) = engine.generate([text_request()], sampling=GREEDY)[0]
    assert completion.finish_reason == "error" and "does not exist" in completion.error
    engine.close()
    with pytest.raises(EngineError, match="full weights"):
        OpenAIEngine(server.base_url, model=MODEL).update_weights(WeightUpdate(version=1, module=object()))


def test_adapter_update_hot_loads_and_unloads_the_previous(tiny_model_dir: Path, tiny_processor, tiny_adapter) -> None:
    with _server(tiny_model_dir, tiny_processor) as running:
        engine = OpenAIEngine(running.base_url, model=MODEL, timeout_s=120)
        requests = [judge_request("chart", 3)]
        before = engine.generate(requests, sampling=GREEDY)[0][0].text
        engine.update_weights(WeightUpdate(version=1, adapter_dir=tiny_adapter))
        assert engine.model == "policy-v1" and engine.weights_version == 1
        tuned = engine.generate(requests, sampling=GREEDY)[0][0].text
        assert tuned != before
        engine.update_weights(WeightUpdate(version=2, adapter_dir=tiny_adapter))
        assert engine.generate(requests, sampling=GREEDY)[0][0].text == tuned
        with urllib.request.urlopen(f"{running.base_url}/models", timeout=30) as reply:
            listed = reply.read().decode()
        assert "policy-v2" in listed and "policy-v1" not in listed  # the previous adapter was unloaded
        engine.close()


def test_load_is_spread_and_a_server_that_stops_answering_is_routed_around(
    tiny_model_dir: Path, tiny_processor
) -> None:
    # A "black hole": the kernel accepts connections into the backlog, nobody ever answers.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    hole_url = f"http://127.0.0.1:{hole.getsockname()[1]}/v1"
    with _server(tiny_model_dir, tiny_processor) as first, _server(tiny_model_dir, tiny_processor) as second:
        engine = OpenAIEngine(
            [hole_url, first.base_url, second.base_url], model=MODEL, timeout_s=3, down_for_s=600, max_concurrency=8
        )
        requests = [judge_request(d, i) for i, d in enumerate(["chart", "table", "svg"] * 4)]
        results = engine.generate(requests, sampling=GREEDY)
        assert all(c[0].error is None for c in results)
        assert engine.servers[0].down_until > time.monotonic()  # out of rotation after its timeout
        assert engine.failed_attempts >= 1
        assert _scheduler(first).batches_run > 0 and _scheduler(second).batches_run > 0  # both took work
        engine.close()
    hole.close()


def test_a_stopped_server_is_retried_later_and_rejoins(tiny_model_dir: Path, tiny_processor) -> None:
    port = free_port()  # nothing listens here yet: connection refused
    with _server(tiny_model_dir, tiny_processor) as good:
        engine = OpenAIEngine([f"http://127.0.0.1:{port}/v1", good.base_url], model=MODEL, down_for_s=0.5)
        assert all(c[0].error is None for c in engine.generate([text_request()] * 3, sampling=GREEDY))
        assert engine.servers[0].served == 0
        with _server(tiny_model_dir, tiny_processor, port=port) as restarted:
            time.sleep(0.6)  # its time out of rotation is over
            assert all(c[0].error is None for c in engine.generate([text_request()] * 6, sampling=GREEDY))
            assert engine.servers[0].served > 0 and _scheduler(restarted).batches_run > 0
        # Every server gone: each request ends as an error completion, within the attempt budget.
        good.stop()
        engine.max_attempts, engine.backoff_s = 2, 0.05
        started = time.monotonic()
        (failed,) = engine.generate([text_request()], sampling=GREEDY)[0]
        assert failed.finish_reason == "error" and "gave up after 2 attempts" in failed.error
        assert time.monotonic() - started < 5
        engine.close()


@pytest.mark.slow
def test_no_request_lost_when_a_server_process_is_killed_mid_run(tiny_model_dir: Path, tiny_processor) -> None:
    port = free_port()
    victim = start_server_process(tiny_model_dir, port, "--served-model-name", MODEL, "--max-tokens", "64")
    try:
        with _server(tiny_model_dir, tiny_processor) as survivor:
            urls = [f"http://127.0.0.1:{port}/v1", survivor.base_url]
            # Few in flight at a time, so the victim still holds requests when it dies.
            engine = OpenAIEngine(urls, model=MODEL, timeout_s=60, max_concurrency=4)
            requests = [judge_request(d, i) for i, d in enumerate(["chart", "table", "svg"] * 14)]
            sampling = SamplingSettings(temperature=0.0, max_new_tokens=48)
            with ThreadPoolExecutor(1) as runner:
                pending = runner.submit(engine.generate, requests, 1, sampling)
                while engine.servers[0].served < 1:  # the victim has answered and holds others in flight
                    assert not pending.done(), "the survivor answered everything before the victim answered once"
                    time.sleep(0.05)
                victim.send_signal(signal.SIGKILL)
                results = pending.result(timeout=600)
            assert len(results) == len(requests)
            assert all(c[0].error is None for c in results)
            assert engine.servers[0].served >= 1 and engine.servers[1].served > 0
            assert engine.failed_attempts > 0  # requests did hit the dead server and were sent again
            engine.close()
    finally:
        victim.kill()
        victim.wait(timeout=30)
