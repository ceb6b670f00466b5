"""Critic prompts ask for exactly the JSON that parse_critique and the schema read."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from src.data.prompts import build_critic_messages, critic_answer_schema, critic_instruction
from src.data.schema import CATEGORIES, CATEGORY_KEY
from src.reward import parse_critique


@pytest.mark.parametrize("domain", sorted(CATEGORIES))
def test_instruction_names_every_category_and_the_official_keys(domain: str) -> None:
    text = critic_instruction(domain)
    for category in CATEGORIES[domain]:
        assert f"{category}_error" in text and f'"{category}_error_count"' in text
    assert f'"{CATEGORY_KEY[domain]}"' in text
    assert "first image is the reference" in text and "second image is the candidate" in text
    # The other domains' categories never leak in (e.g. no 'numeric_error' in the chart prompt).
    foreign = {c for d, cats in CATEGORIES.items() if d != domain for c in cats} - set(CATEGORIES[domain])
    assert not any(f"- {c}_error" in text for c in foreign)


@pytest.mark.parametrize("domain", sorted(CATEGORIES))
def test_an_answer_shaped_like_the_schema_parses(domain: str) -> None:
    schema = critic_answer_schema(domain)
    answer = {key: 0 for key in schema if key.endswith("_count")}
    first = CATEGORIES[domain][0]
    answer[f"{first}_error_count"] = 1
    answer["errors"] = [
        {CATEGORY_KEY[domain]: f"{first}_error", "severity": 2, "location": "top", "description": "differs"}
    ]
    critique = parse_critique(json.dumps(answer), domain)
    assert critique.to_official() == {**answer, "errors": [dict(answer["errors"][0], location="top")]}


def test_messages_hold_reference_then_candidate_then_text() -> None:
    reference, candidate = Image.new("RGB", (8, 8), "white"), Image.new("RGB", (8, 8), "black")
    (message,) = build_critic_messages("chart", reference, candidate)
    assert message["role"] == "user"
    parts = message["content"]
    assert [p["type"] for p in parts] == ["image", "image", "text"]
    assert parts[0]["image"] is reference and parts[1]["image"] is candidate
    assert parts[2]["text"] == critic_instruction("chart")


def test_bad_domain_and_bad_image_are_named() -> None:
    with pytest.raises(ValueError, match="domain"):
        critic_instruction("latex")
    with pytest.raises(TypeError, match="candidate_image"):
        build_critic_messages("svg", Image.new("RGB", (8, 8)), b"\x89PNG")
