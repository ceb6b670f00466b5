"""tools/serve_openai.py as users start it: its own process, loopback, a start-up adapter, and our OpenAIEngine
talking to it over real HTTP with the tiny judge."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from src.engines.engine import SamplingSettings
from src.engines.hf_engine import HFEngine
from src.engines.openai_engine import OpenAIEngine
from tests.engines.conftest import free_port, judge_request, start_server_process


def test_the_tool_serves_the_tiny_judge_to_openai_engine(
    tiny_model_dir: Path, tiny_adapter: Path, tiny_vlm, tiny_processor
) -> None:
    port = free_port()
    server = start_server_process(
        tiny_model_dir, port, "--served-model-name", "judge", "--lora-modules", f"critic={tiny_adapter}"
    )
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=30) as reply:
            assert [m["id"] for m in json.loads(reply.read())["data"]] == ["judge", "critic"]
        requests = [judge_request("chart", 0), judge_request("svg", 1)]
        greedy = SamplingSettings(temperature=0.0, max_new_tokens=8)
        engine = OpenAIEngine(f"http://127.0.0.1:{port}/v1", model="judge", timeout_s=120)
        expected = HFEngine(tiny_vlm, tiny_processor).generate(requests, sampling=greedy)
        assert [c[0].text for c in engine.generate(requests, sampling=greedy)] == [c[0].text for c in expected]
        engine.close()
    finally:
        server.kill()
        server.wait(timeout=30)
