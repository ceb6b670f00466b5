"""The released judge's protocol: hand-written answers scored as the public reward code scores them, and the requests
a judge sends, captured by a fake chat server on 127.0.0.1, equal field by field to the released requests.

Every expected reward below is worked out by hand from how the public reward code of InternLM/Visual-ERM behaves
(``rl_scripts/reward_func``): charts/SVG 1 + clip(1 - S/50, 0, 1), S = 25 after two unreadable answers, 0 without a
judged render; tables -S, -4 on failure, one attempt. The profile is a stand-in with the released numbers and our own
placeholder instructions (the released text is not ours to ship).
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image, ImageDraw

from src.engines.engine import Completion, SamplingSettings
from src.engines.openai_engine import OpenAIEngine
from src.render.job import RenderResult
from src.reward.critic_profile import (
    AnswerProtocol,
    CriticProfile,
    DomainPrompt,
    ImageEncoding,
    load_profile,
    save_profile,
)
from src.reward.judge import VisualERMJudge
from src.reward.pair import RewardPair
from src.reward.reward import ReleasedScoring
from tests.reward.conftest import ScriptedEngine, png_bytes, rendered

CHART_TEXT = "STAND-IN chart judge: list the errors as JSON."
SVG_TEXT = "STAND-IN svg judge: list the errors as JSON."
TABLE_TEXT = "\nSTAND-IN table judge: list the errors as JSON.\n"
TABLE_SYSTEM = "STAND-IN system turn."


def released_profile() -> CriticProfile:
    chart_svg = AnswerProtocol(
        parser="released_chart_svg",
        attempts=2,
        scoring=ReleasedScoring("clipped", max_severity=50, render_reward=1, judge_weight=1, failure_severity=25),
    )
    jpeg = ImageEncoding(format="jpeg", jpeg_quality=75, max_side=1024)
    fields = ("category", "severity", "location", "description")
    return CriticProfile(
        name="released-stand-in",
        sampling=SamplingSettings(
            temperature=0.7, top_p=0.8, top_k=20, presence_penalty=1.5, repetition_penalty=1.0, max_new_tokens=4096
        ),
        domains={
            "chart": DomainPrompt(CHART_TEXT, error_fields=fields, image=jpeg, protocol=chart_svg),
            "svg": DomainPrompt(SVG_TEXT, error_fields=fields, image=jpeg, protocol=chart_svg),
            "table": DomainPrompt(
                TABLE_TEXT,
                system=TABLE_SYSTEM,
                image_prefix="<image>\n",
                error_fields=("type", "description", "severity"),
                image=ImageEncoding(format="png", max_side=768, crop_padding=12),
                sampling=SamplingSettings(
                    temperature=0.0,
                    max_new_tokens=8192,
                    repetition_penalty=1.05,
                    server_defaults=("n", "top_p", "top_k", "presence_penalty"),  # the released call never sends them
                ),
                protocol=AnswerProtocol(
                    parser="released_table",
                    attempts=1,
                    scoring=ReleasedScoring("negative_sum", failure_severity=4, min_reward=-4),
                ),
            ),
        },
    )


def chart_image(size: tuple[int, int] = (1200, 900), bar: int = 300) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((100, size[1] - bar, 300, size[1] - 50), fill="#1f77b4")
    draw.text((120, 40), "Revenue", fill="black")
    return image


def table_shot() -> Image.Image:
    """A released-style table screenshot: mostly white page, the table near the top-left corner."""
    image = Image.new("RGB", (3600, 2400), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 900, 200), outline="#333333")
    draw.text((40, 60), "Q1  12.5", fill="black")
    return image


def judged(profile: CriticProfile, domain: str, answers: list[str | Completion]) -> tuple[float, int]:
    """Reward and number of judge calls of one rendered pair whose critic answers ``answers`` in turn."""
    engine = ScriptedEngine(lambda request, call: answers[min(call, len(answers) - 1)])
    pair = RewardPair(chart_image(), rendered(chart_image(bar=200)), domain)
    result = VisualERMJudge(engine, profile=profile).judge([pair])
    return result.rewards[0], result.pairs[0].attempts


# (answer, reward, attempts) with the released chart/SVG reading: S from the first readable answer of two.
CHART_SVG_CASES = [
    ('{"errors": [{"severity": 2}, {"severity": 3}]}', 1.9, 1),  # S = 5: 1 + (1 - 5/50)
    ('```json\n{"errors": [{"severity": 2}]}\n```', 1.96, 1),  # one leading fence stripped
    ('<think>{"errors": [{"severity": 3}]}</think>\n{"errors": [{"severity": 1}]}', 1.98, 1),  # closed think removed
    ('{"structure_error_count": 1}', 2.0, 1),  # no "errors" key: S = 0 (ours would re-ask)
    ('{"errors": []}', 2.0, 1),
    ('Sure. {"errors": [{"severity": 3}]} Hope this helps.', 1.94, 1),  # first brace-balanced span
    ('[{"errors": [{"severity": 3}]}]', 1.94, 1),  # a JSON list: the first span inside it is read
    # "2" counts 2, "high" and null are skipped, -3 counts 0, 2.5 counts 2.5, a non-object is skipped, true counts 1
    (
        '{"errors": [{"severity": "2"}, {"severity": "high"}, {"severity": null}, {"severity": -3}, {"severity": 2.5},'
        ' 7, {"severity": true}]}',
        1 + (1 - 5.5 / 50),
        1,
    ),
    ('{"errors": [' + ", ".join(['{"severity": 3}'] * 20) + "]}", 1.0, 1),  # S = 60 > 50: clipped to 0
    ('{"errors": [{"severity": Infinity}]}', 1.0, 1),
    # Unreadable twice, then S = 25: 1 + (1 - 25/50)
    ('{"errors": [{"severity": 2, "description": "the } brace"}]}', 1.96, 1),  # plain JSON: read whole
    ('Sure: {"errors": [{"severity": 2, "description": "the } brace"}]}', 1.5, 2),  # the "}" cuts the span
    ('{"errors": "none"}', 1.5, 2),
    ('{"errors": [{"severity": 2},]}', 1.5, 2),  # trailing comma: not JSON (ours reads it)
    ("{'errors': [{'severity': 2}]}", 1.5, 2),  # single quotes: not JSON (ours reads it)
    ("", 1.5, 2),
    ('<think>still thinking {"errors": [{"severity": 3}]}', 1.94, 1),  # unclosed think stays, span inside is read
    ('{"errors": [{"severity": ' + "9" * 400 + "}]}", 1.5, 2),  # beyond float range: the reading fails there
]


@pytest.mark.parametrize(("answer", "reward", "attempts"), CHART_SVG_CASES)
@pytest.mark.parametrize("domain", ["chart", "svg"])
def test_chart_svg_answers_score_as_released(domain: str, answer: str, reward: float, attempts: int) -> None:
    got, calls = judged(released_profile(), domain, [answer])
    assert got == pytest.approx(reward, abs=1e-12) and calls == attempts


def test_second_answer_counts_when_the_first_is_unreadable() -> None:
    got, calls = judged(released_profile(), "chart", ["no JSON here", '{"errors": [{"severity": 3}]}'])
    assert (got, calls) == (pytest.approx(1.94), 2)


# (answer, reward) with the released table reading: one attempt, -S, -4 on failure.
TABLE_CASES = [
    ('{"errors": [{"severity": 2}, {"severity": 3}]}', -5.0),
    ('```json\n{"errors": [{"severity": 1}]}\n```', -1.0),
    ('{"errors": []}', 0.0),
    ('{"errors": [{"type": "text_error"}]}', 0.0),  # severity defaults to 0
    ('{"errors": [{"severity": -2}]}', 2.0),  # negative severities are not clamped
    ('{"errors": [{"severity": true}, {"severity": 1.5}]}', -2.5),
    ("{}", -4.0),  # an empty object is a failure
    ("[]", -4.0),
    ('{"layout_error_count": 0}', -4.0),  # no errors key: a failure here (S = 0 for charts)
    ('{"errors": [{"severity": "2"}]}', -4.0),  # a string severity cannot be added
    ('{"errors": [{"severity": null}]}', -4.0),
    ('{"errors": [3]}', -4.0),  # an item that is not an object
    ('Result: {"errors": [{"severity": 1}]} done', -1.0),  # greedy span from the first { to the last }
    ('Result: {"errors": [{"severity": 1}]} and {"note": 1}', -4.0),  # greedy span is not JSON
    ('<think>checked</think>{"errors": [{"severity": 1}]}', -1.0),  # no think handling, the span still reads
    ("not json", -4.0),
    ("", -4.0),
    ('{"errors": [{"severity": Infinity}]}', -4.0),  # -inf there; a failure here (no GRPO step survives inf)
]


@pytest.mark.parametrize(("answer", "reward"), TABLE_CASES)
def test_table_answers_score_as_released_with_one_attempt(answer: str, reward: float) -> None:
    got, calls = judged(released_profile(), "table", [answer, '{"errors": []}'])
    assert got == reward and calls == 1


def test_our_profile_keeps_our_parser_and_reward() -> None:
    """The same edge answers under the built-in profile: our reader re-asks, reads quotes, and normalizes by group."""
    from src.reward.critic_profile import builtin_profile

    profile = builtin_profile()
    # No errors key: ours re-asks (3 attempts by default), then the fallback S = 25 with group-max gives ~1.0.
    reward, calls = judged(profile, "chart", ['{"structure_error_count": 1}'])
    assert calls == 3 and reward == pytest.approx(1.0, abs=1e-5)
    # Single quotes are read: S = 2, alone in its group: 1 + clip(1 - 2 / (2 + eps)) ~ 1.0
    reward, calls = judged(profile, "chart", ["{'errors': [{'category': 'data_error', 'severity': 2}]}"])
    assert calls == 1 and reward == pytest.approx(1.0, abs=1e-5)


def test_failed_renders_and_failed_calls_score_the_released_minimum() -> None:
    profile = released_profile()
    failed = RenderResult.failure("runtime", "NameError")
    engine = ScriptedEngine(lambda request, call: Completion(text="", finish_reason="error", error="server down"))
    judge = VisualERMJudge(engine, profile=profile)
    pairs = [
        RewardPair(chart_image(), failed, "chart"),
        RewardPair(chart_image(), failed, "table"),
        RewardPair(chart_image(), rendered(chart_image(bar=100)), "chart"),
        RewardPair(chart_image(), rendered(chart_image(bar=100)), "table"),
    ]
    result = judge.judge(pairs)
    assert result.rewards == [0.0, -4.0, 0.0, -4.0]
    assert [p.attempts for p in result.pairs] == [0, 0, 1, 1]  # a failed call is not asked again there
    assert result.pairs[2].breakdown.parse_error == "engine error: server down"


def test_profile_file_round_trips_the_protocol(tmp_path: Any) -> None:
    profile = released_profile()
    assert load_profile(save_profile(profile, tmp_path / "p.json")) == profile
    data = json.loads((tmp_path / "p.json").read_text())
    data["domains"]["table"]["protocol"]["scoring"]["formula"] = "sum"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="domains.table.protocol.scoring"):
        load_profile(tmp_path / "bad.json")
    data["domains"]["table"]["protocol"] = {"parser": "released_table"}  # a released reader needs a formula
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="protocol.scoring"):
        load_profile(tmp_path / "bad.json")


# --- the request on the wire -----------------------------------------------------------------------------------------
class CapturingServer:
    """A chat-completions endpoint on 127.0.0.1 that records every request body and answers from a list."""

    def __init__(self, answers: list[str]) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.answers = answers
        captured = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    captured.bodies.append(body)
                    text = captured.answers[min(len(captured.bodies), len(captured.answers)) - 1]
                reply = {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", ""),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def capture() -> Iterator[CapturingServer]:
    server = CapturingServer(["no JSON", '{"errors": [{"severity": 2}]}'])
    yield server
    server.close()


def data_url(image: Image.Image, fmt: str, media: str) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)  # PIL's defaults, as the released code saves (JPEG quality 75)
    return f"data:{media};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def thumbnail(image: Image.Image, side: int) -> Image.Image:
    out = image.copy()
    out.thumbnail((side, side))
    return out.convert("RGB")


def test_chart_request_on_the_wire_equals_the_released_request(capture: CapturingServer) -> None:
    reference, candidate = chart_image(), chart_image(bar=200)
    engine = OpenAIEngine(capture.url, model="reward_service", max_attempts=1)
    try:
        result = VisualERMJudge(engine, profile=released_profile()).judge(
            [RewardPair(reference, rendered(candidate), "chart")]
        )
    finally:
        engine.close()
    assert result.rewards == [pytest.approx(1.96)] and len(capture.bodies) == 2  # unreadable, then S = 2
    released = {  # the released chart/SVG request: one user turn, both JPEG thumbnails (reference first), then text
        "model": "reward_service",
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {"url": data_url(thumbnail(reference, 1024), "JPEG", "image/jpeg")},
                    },
                    {
                        "type": "image_url",
                        "image_url": {"url": data_url(thumbnail(candidate, 1024), "JPEG", "image/jpeg")},
                    },
                    {"type": "text", "text": CHART_TEXT},
                ],
            }
        ],
        "temperature": 0.7,
        "top_p": 0.8,
        "presence_penalty": 1.5,
        "max_tokens": 4096,
        "n": 1,
        "top_k": 20,  # sent in extra_body, which the client merges into the body; repetition_penalty 1.0 is not sent
    }
    for body in capture.bodies:  # the re-ask is the same request
        assert body == released


def test_table_request_on_the_wire_equals_the_released_request(capture: CapturingServer) -> None:
    reference, shot = chart_image((1400, 500)), table_shot()
    engine = OpenAIEngine(capture.url, model="reward_service", max_attempts=1)
    try:
        result = VisualERMJudge(engine, profile=released_profile()).judge(
            [RewardPair(reference, rendered(shot), "table")]
        )
    finally:
        engine.close()
    assert result.rewards == [-4.0] and len(capture.bodies) == 1  # one attempt: the unreadable answer is final
    body = capture.bodies[0]
    # The released table request; the candidate is the screenshot cropped to its content with 12 px padding.
    cropped = thumbnail(shot.crop((20 - 12, 20 - 12, 901 + 12, 201 + 12)), 768)
    images = [thumbnail(reference, 768), cropped]
    released_fields = {
        "model": "reward_service",
        "temperature": 0.0,
        "max_tokens": 8192,
        "repetition_penalty": 1.05,
    }
    assert {k: body[k] for k in released_fields} == released_fields
    system, user = body["messages"]
    assert system == {"role": "system", "content": TABLE_SYSTEM}
    assert user["role"] == "user" and [p["type"] for p in user["content"]] == ["image_url", "image_url", "text"]
    assert user["content"][2] == {"type": "text", "text": "<image>\n<image>\n" + TABLE_TEXT}
    for part, image in zip(user["content"][:2], images, strict=True):
        # Same PNG bytes; the released code labels the data URL "data:image;base64", our engine "data:image/png".
        media, payload = part["image_url"]["url"].split(",", 1)
        assert media == "data:image/png;base64"
        assert base64.b64decode(payload) == base64.b64decode(data_url(image, "PNG", "image/png").split(",", 1)[1])
    # Nothing beyond the released fields: the server's defaults apply as they do for the released client.
    assert set(body) == {*released_fields, "messages"}


def test_in_process_engines_see_the_pixels_the_server_would_decode() -> None:
    engine = ScriptedEngine(lambda request, call: '{"errors": []}')
    reference = chart_image()
    VisualERMJudge(engine, profile=released_profile()).judge([RewardPair(reference, rendered(reference), "chart")])
    request = engine.requests[0]
    assert request.image_format == "png"  # lossless, so the JPEG round trip below is all the model sees
    sent = request.messages[0]["content"][0]["image"]
    with Image.open(io.BytesIO(base64.b64decode(data_url(thumbnail(reference, 1024), "JPEG", "x").split(",")[1]))) as j:
        assert sent.tobytes() == j.convert("RGB").tobytes()
    assert png_bytes(sent)  # a plain RGB image an engine can take
