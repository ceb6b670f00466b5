"""The OpenAI-compatible server over real HTTP on 127.0.0.1, driven by the real ``openai`` client and the tiny model:
answers equal the engine's own, concurrent requests share batches, bad input gets a 4xx with the reason (and the
server keeps serving), a full queue refuses at once, and LoRA adapters load and unload as in vLLM."""

from __future__ import annotations

import base64
import io
import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
from PIL import Image
from transformers import AutoModelForImageTextToText

from src.engines.engine import ChatRequest, SamplingSettings
from src.engines.hf_engine import HFEngine
from src.engines.server import BackgroundServer, ServerSettings, create_app
from tests.engines.conftest import judge_request, text_request

MODEL = "tiny-judge"


def data_url(image: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    mime = "jpeg" if fmt == "JPEG" else "png"
    return f"data:image/{mime};base64,{base64.b64encode(buf.getvalue()).decode()}"


def openai_messages(request: ChatRequest, fmt: str = "PNG") -> list[dict[str, Any]]:
    """The request as the public reward code sends it: image_url data URLs, then the text."""
    out = []
    for message in request.messages:
        parts = []
        for part in message["content"]:
            if part["type"] == "image":
                parts.append({"type": "image_url", "image_url": {"url": data_url(part["image"], fmt)}})
            else:
                parts.append(part)
        out.append({"role": message["role"], "content": parts})
    return out


def post(url: str, payload: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    """A plain HTTP POST (no client-side validation in the way); returns status and parsed JSON body."""
    data = raw if raw is not None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _engine(tiny_model_dir: Path, tiny_processor) -> HFEngine:
    return HFEngine(AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval(), tiny_processor)


@pytest.fixture(scope="module")
def served(tiny_model_dir: Path, tiny_processor) -> Iterator[tuple[BackgroundServer, HFEngine]]:
    engine = _engine(tiny_model_dir, tiny_processor)
    settings = ServerSettings(served_model_name=MODEL, max_body_bytes=2_000_000, max_tokens_limit=64)
    with BackgroundServer(create_app(engine, settings)) as server:
        yield server, engine


@pytest.fixture(scope="module")
def client(served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served[0].base_url, api_key="unused", max_retries=0, timeout=120)


def test_listens_on_loopback_and_lists_the_model(served, client: openai.OpenAI) -> None:
    assert served[0].host == "127.0.0.1"
    assert [m.id for m in client.models.list().data] == [MODEL]


def test_answers_equal_the_engines_own_with_usage(served, client: openai.OpenAI) -> None:
    request = judge_request("chart", 1)
    expected = served[1].generate([request], sampling=SamplingSettings(temperature=0.0, max_new_tokens=16))[0][0]
    reply = client.chat.completions.create(
        model=MODEL, messages=openai_messages(request), n=2, temperature=0.0, max_tokens=16
    )
    assert [c.message.content for c in reply.choices] == [expected.text, expected.text]
    assert reply.choices[0].finish_reason == expected.finish_reason
    assert reply.usage.prompt_tokens == expected.prompt_tokens
    assert reply.usage.completion_tokens == 2 * len(expected.token_ids)
    assert reply.model == MODEL


def test_sampling_fields_seed_and_token_logprobs(client: openai.OpenAI) -> None:
    # The public reward code's sampling: temperature/top_p/presence_penalty plus vLLM's extra fields; JPEG images.
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "messages": openai_messages(judge_request("svg", 0), fmt="JPEG"),
        "temperature": 0.7,
        "top_p": 0.8,
        "presence_penalty": 1.5,
        "max_tokens": 12,
        "seed": 11,
        "logprobs": True,
        "extra_body": {"top_k": 20, "repetition_penalty": 1.05, "return_tokens_as_token_ids": True},
    }
    first = client.chat.completions.create(**kwargs)
    again = client.chat.completions.create(**kwargs)
    other = client.chat.completions.create(**{**kwargs, "seed": 12})
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.choices[0].message.content != other.choices[0].message.content
    tokens = first.choices[0].logprobs.content
    assert len(tokens) == first.usage.completion_tokens and all(t.token.startswith("token_id:") for t in tokens)
    assert all(t.logprob <= 0 for t in tokens)


def test_concurrent_requests_share_batches_without_mixing_answers(served, client: openai.OpenAI) -> None:
    server, engine = served
    requests = [judge_request(domain, i) for i, domain in enumerate(["chart", "table", "svg", "chart"] * 2)]
    greedy = SamplingSettings(temperature=0.0, max_new_tokens=8)
    expected = [c[0].text for c in engine.generate(requests, sampling=greedy)]
    scheduler = server._server.config.app.state.scheduler
    batches_before = scheduler.batches_run

    def ask(request: ChatRequest) -> str:
        reply = client.chat.completions.create(
            model=MODEL, messages=openai_messages(request), temperature=0.0, max_tokens=8
        )
        return reply.choices[0].message.content

    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(ask, requests))
    assert answers == expected
    assert scheduler.batches_run - batches_before < len(requests)  # some requests shared a generate call
    assert scheduler.largest_batch > 1


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions in a few bytes (a decompression-bomb probe)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("data:image/png;base64,!!!notbase64", "not valid base64"),
        ("data:image/png;base64," + base64.b64encode(b"plain text, not an image").decode(), "cannot decode image"),
        ("https://example.com/chart.png", "data URL"),
        ("data:image/png;base64," + base64.b64encode(_png_header(5000, 5000)).decode(), "pixels; the limit"),
        ("data:image/jpeg;base64," + base64.b64encode(_png_header(64, 64)[:20]).decode(), "cannot decode image"),
    ],
)
def test_bad_images_get_400_with_the_reason(client: openai.OpenAI, url: str, reason: str) -> None:
    messages = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "x"}]}
    ]
    with pytest.raises(openai.BadRequestError, match=reason):
        client.chat.completions.create(model=MODEL, messages=messages, max_tokens=4)


def test_bad_requests_get_4xx_and_the_server_keeps_serving(served, client: openai.OpenAI) -> None:
    base = served[0].base_url
    text = [{"role": "user", "content": "hello"}]
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4o", messages=text)
    with pytest.raises(openai.BadRequestError, match="n: must be"):
        client.chat.completions.create(model=MODEL, messages=text, n=0)
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(model=MODEL, messages=text, max_tokens=10_000)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.chat.completions.create(model=MODEL, messages=text, temperature=-1)
    with pytest.raises(openai.BadRequestError, match="role"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "robot", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="context"):  # prompt + max_tokens beyond the model's positions
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "word " * 5000}], max_tokens=8
        )
    status, body = post(f"{base}/chat/completions", raw=b"{not json")
    assert status == 400 and "invalid request" in body["error"]["message"]
    # An oversize body is refused from its declared length, before the server reads it (the client is still sending).
    host, port = served[0].host, served[0].port
    with socket.create_connection((host, port), timeout=60) as conn:
        head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3000000\r\n\r\n"
        conn.sendall(head.encode() + b'{"model": "')
        answer = b""
        while b"limit" not in answer and (chunk := conn.recv(65536)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"the limit is 2000000" in answer
    reply = client.chat.completions.create(model=MODEL, messages=text, max_tokens=4)  # still alive
    assert reply.choices[0].finish_reason in ("stop", "length")


def test_without_max_tokens_the_answer_gets_what_the_context_leaves(served, client: openai.OpenAI) -> None:
    engine = served[1]
    words = "word " * 4050
    prompt_tokens = engine.encode(text_request(words), SamplingSettings(max_new_tokens=1)).num_tokens
    left = engine.max_context - prompt_tokens
    assert 0 < left < 64, "precondition: the prompt leaves less room than the server's max_tokens cap"
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": words}], temperature=0)
    assert reply.usage.prompt_tokens == prompt_tokens
    assert reply.usage.completion_tokens <= left


def test_full_queue_refuses_at_once_with_429(tiny_model_dir: Path, tiny_processor) -> None:
    engine = _engine(tiny_model_dir, tiny_processor)
    gate = threading.Event()
    generate = engine.generate_encoded

    def held(*args: Any, **kwargs: Any) -> Any:
        gate.wait(timeout=120)  # the engine is busy until the test opens the gate
        return generate(*args, **kwargs)

    engine.generate_encoded = held  # type: ignore[method-assign]
    settings = ServerSettings(served_model_name=MODEL, max_queue=2, max_tokens_limit=8)
    with BackgroundServer(create_app(engine, settings)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)
        ask = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        with ThreadPoolExecutor(2) as pool:
            waiting = [pool.submit(client.chat.completions.create, **ask) for _ in range(2)]
            scheduler = server._server.config.app.state.scheduler
            while scheduler.pending < 2:
                threading.Event().wait(0.02)
            with pytest.raises(openai.RateLimitError, match="queue full"):
                client.chat.completions.create(**ask)
            gate.set()
            assert all(f.result().choices for f in waiting)  # the queued ones are answered, not dropped


def test_a_client_that_hangs_up_while_queued_costs_no_generation(tiny_model_dir: Path, tiny_processor) -> None:
    engine = _engine(tiny_model_dir, tiny_processor)
    gate, busy, generated = threading.Event(), threading.Event(), []
    generate = engine.generate_encoded

    def held(prompts: Any, *args: Any, **kwargs: Any) -> Any:
        generated.append(len(prompts))
        busy.set()
        gate.wait(timeout=120)
        return generate(prompts, *args, **kwargs)

    engine.generate_encoded = held  # type: ignore[method-assign]
    with BackgroundServer(create_app(engine, ServerSettings(served_model_name=MODEL))) as server:
        scheduler = server._server.config.app.state.scheduler
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)
        ask = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}

        def wait_for(condition: Any) -> None:
            deadline = time.monotonic() + 60
            while not condition():
                assert time.monotonic() < deadline
                time.sleep(0.02)

        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.chat.completions.create, **ask)
            busy.wait(timeout=60)  # the engine is generating the first request; the next one queues
            body = json.dumps(ask).encode()
            with socket.create_connection((server.host, server.port), timeout=60) as conn:
                head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                conn.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
                wait_for(lambda: scheduler.pending == 2)
            wait_for(lambda: scheduler.pending == 1)  # the handler saw the hang-up and let go
            gate.set()
            assert first.result().choices
        assert client.chat.completions.create(**ask).choices
        assert scheduler.dropped == 1 and generated == [1, 1]  # the abandoned request was never generated


def test_lora_adapters_load_address_and_unload_like_vllm(served, client: openai.OpenAI, tiny_adapter: Path) -> None:
    base_url = served[0].base_url
    messages = openai_messages(judge_request("table", 2))

    def answer(model: str) -> str:
        reply = client.chat.completions.create(model=model, messages=messages, temperature=0.0, max_tokens=12)
        return reply.choices[0].message.content

    base_answer = answer(MODEL)
    adapter = {"lora_name": "critic-v1", "lora_path": str(tiny_adapter)}
    status, body = post(f"{base_url}/load_lora_adapter", adapter)
    assert status == 200, body
    assert {m.id for m in client.models.list().data} == {MODEL, "critic-v1"}
    assert answer("critic-v1") != base_answer
    assert answer(MODEL) == base_answer  # the base name still means the base weights
    status, body = post(f"{base_url}/load_lora_adapter", adapter)
    assert status == 400 and "already" in body["error"]["message"]
    status, body = post(f"{base_url}/load_lora_adapter", {"lora_name": "x", "lora_path": "/no/such/dir"})
    assert status == 400 and "adapter" in body["error"]["message"]
    assert post(f"{base_url}/unload_lora_adapter", {"lora_name": "critic-v1"})[0] == 200
    assert post(f"{base_url}/unload_lora_adapter", {"lora_name": "critic-v1"})[0] == 404
    assert post(f"{base_url}/load_lora_adapter", {"lora_name": ""})[0] == 400
    with pytest.raises(openai.NotFoundError):
        answer("critic-v1")
    assert answer(MODEL) == base_answer


@pytest.mark.parametrize(
    "field",
    [
        '"temperature": NaN',
        '"temperature": Infinity',
        '"top_p": NaN',
        '"presence_penalty": -Infinity',
        '"repetition_penalty": NaN',
        f'"seed": {2**70}',
        f'"top_k": {2**70}',
        '"presence_penalty": 1e400',
    ],
)
def test_non_finite_and_out_of_range_sampling_values_get_400(served, field: str) -> None:
    raw = f'{{"model": "{MODEL}", "messages": [{{"role": "user", "content": "hi"}}], "max_tokens": 2, {field}}}'
    status, body = post(f"{served[0].base_url}/chat/completions", raw=raw.encode())
    assert status == 400, (status, body)
    assert field.split('"')[1] in body["error"]["message"]


def _solid_png_url(width: int, height: int) -> str:
    return data_url(Image.new("RGB", (width, height), (200, 30, 90)))


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every image the server decodes (PIL's ``load``), by size: header reads are free, decoding is what costs."""
    from PIL import ImageFile

    seen: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def counted(self: ImageFile.ImageFile) -> Any:
        if getattr(self, "_im", None) is None:  # not decoded yet: this call decodes
            seen.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counted)
    return seen


def _held_engine(tiny_model_dir: Path, tiny_processor) -> tuple[HFEngine, threading.Event, list[tuple[int, int]]]:
    """An engine that stays busy until the returned gate opens; records the size of every image it encodes."""
    engine = _engine(tiny_model_dir, tiny_processor)
    gate, sizes = threading.Event(), []
    generate, encode = engine.generate_encoded, engine.encode

    def held(*args: Any, **kwargs: Any) -> Any:
        gate.wait(timeout=120)
        return generate(*args, **kwargs)

    def seen(request: ChatRequest, *args: Any, **kwargs: Any) -> Any:
        for message in request.messages:
            content = message["content"] if isinstance(message["content"], list) else []
            sizes.extend(part["image"].size for part in content if part["type"] == "image")
        return encode(request, *args, **kwargs)

    engine.generate_encoded = held  # type: ignore[method-assign]
    engine.encode = seen  # type: ignore[method-assign]
    return engine, gate, sizes


def _image_request(urls: list[str]) -> dict[str, Any]:
    parts = [{"type": "image_url", "image_url": {"url": u}} for u in urls] + [{"type": "text", "text": "x"}]
    return {"model": MODEL, "messages": [{"role": "user", "content": parts}], "max_tokens": 2}


def test_a_full_queue_refuses_before_decoding_any_image(tiny_model_dir: Path, tiny_processor, decodes) -> None:
    engine, gate, _ = _held_engine(tiny_model_dir, tiny_processor)
    settings = ServerSettings(served_model_name=MODEL, max_queue=1, max_tokens_limit=8)
    with BackgroundServer(create_app(engine, settings)) as server:
        scheduler = server._server.config.app.state.scheduler
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(post, f"{server.base_url}/chat/completions", _image_request([]))
            while scheduler.pending < 1:
                time.sleep(0.02)
            status, body = post(f"{server.base_url}/chat/completions", _image_request([_solid_png_url(2048, 2048)] * 4))
            gate.set()
            assert waiting.result()[0] == 200
    assert status == 429 and "queue full" in body["error"]["message"]
    assert decodes == []  # refused on arrival: not one of its images was decoded


def test_a_requests_total_pixels_are_capped_before_decoding(served, decodes) -> None:
    # Eight images at the per-image cap: each is legal, together they are four times the request's default cap.
    side = 4096
    status, body = post(f"{served[0].base_url}/chat/completions", _image_request([_solid_png_url(side, side)] * 8))
    assert status == 400 and "pixels" in body["error"]["message"], body
    assert decodes == []


def _peak_rss_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def test_a_burst_of_large_images_holds_only_downscaled_pixels(tiny_model_dir: Path, tiny_processor, decodes) -> None:
    """12 requests of 8 images of 2048² wait in the queue together; each image is downscaled to the processor's
    limit as it is decoded, so the waiting requests hold kilobytes, not 12 x 8 x 12 MB of decoded pixels."""
    engine, gate, sizes = _held_engine(tiny_model_dir, tiny_processor)
    limit = tiny_processor.image_processor.size["longest_edge"]
    settings = ServerSettings(served_model_name=MODEL, max_tokens_limit=8)
    burst = _image_request([_solid_png_url(2048, 2048)] * 8)
    with BackgroundServer(create_app(engine, settings)) as server:
        scheduler = server._server.config.app.state.scheduler
        Path("/proc/self/clear_refs").write_text("5")  # restart the peak-RSS count (VmHWM) from now
        before = _peak_rss_mb()
        with ThreadPoolExecutor(12) as pool:
            answers = [pool.submit(post, f"{server.base_url}/chat/completions", burst) for _ in range(12)]
            deadline = time.monotonic() + 120
            while scheduler.pending < 12 or len(decodes) < 12 * 8:  # all decoded, all waiting
                assert time.monotonic() < deadline, (scheduler.pending, len(decodes))
                time.sleep(0.05)
            grown = _peak_rss_mb() - before
            gate.set()
            assert all(a.result()[0] == 200 for a in answers)
    assert grown < 400, f"peak RSS grew {grown:.0f} MB"  # 12 x 8 decoded 2048² images would be 1.2 GB
    assert len(sizes) == 12 * 8 and all(w * h <= limit for w, h in sizes), sizes


def test_downscaling_right_after_decoding_gives_the_model_the_same_pixels(tiny_processor) -> None:
    from src.engines.server_requests import decode_image, open_data_url, processor_image_target
    from tests.engines.conftest import drawn_image

    image = drawn_image("chart", 1, (400, 300))
    shrunk = decode_image(open_data_url(data_url(image), 1 << 30), processor_image_target(tiny_processor))
    assert shrunk.width * shrunk.height <= tiny_processor.image_processor.size["longest_edge"] < 400 * 300
    direct, early = (tiny_processor.image_processor(images=[x], return_tensors="pt") for x in (image, shrunk))
    assert direct["image_grid_thw"].tolist() == early["image_grid_thw"].tolist()
    assert direct["pixel_values"].equal(early["pixel_values"])
