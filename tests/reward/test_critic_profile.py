"""Critic prompt profiles: our prompt and a released-style protocol, each turned into the exact request a judge sends."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from src.data.collate import encode_prompt
from src.data.prompts import build_critic_messages, critic_instruction
from src.engines.engine import SamplingSettings
from src.models.processor import load_processor
from src.render.job import DOMAINS
from src.reward.critic_profile import (
    CriticProfile,
    DomainPrompt,
    ImageEncoding,
    ProfileError,
    builtin_profile,
    load_profile,
    save_profile,
)

RELEASED_SAMPLING = SamplingSettings(
    temperature=0.7, top_p=0.8, top_k=20, presence_penalty=1.5, repetition_penalty=1.0, max_new_tokens=4096
)


def released_style_profile() -> CriticProfile:
    """The released layout with stand-in words: JPEG thumbnails for chart/SVG; system turn, markers, crop for tables."""
    jpeg = ImageEncoding(format="jpeg", jpeg_quality=75, max_side=1024)
    return CriticProfile(
        name="released-style",
        sampling=RELEASED_SAMPLING,
        domains={
            "chart": DomainPrompt(instruction="Compare the charts. Reply in JSON.", image=jpeg),
            "svg": DomainPrompt(instruction="Compare the icons. Reply in JSON.", image=jpeg),
            "table": DomainPrompt(
                instruction="Compare the tables. Reply in JSON.",
                system="Stand-in system turn.",
                image_prefix="<image>\n",
                error_fields=("type", "description", "severity"),
                image=ImageEncoding(format="png", max_side=768, crop_padding=12),
                sampling=SamplingSettings(temperature=0.0, max_new_tokens=8192, repetition_penalty=1.05),
            ),
        },
    )


def table_screenshot(
    size: tuple[int, int] = (3600, 2400), box: tuple[int, int, int, int] = (40, 30, 1240, 430)
) -> Image.Image:
    """A mostly blank page with one table-like block, as a headless browser screenshot looks."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle(box, outline="black", width=3)
    draw.line((box[0], (box[1] + box[3]) // 2, box[2], (box[1] + box[3]) // 2), fill="black", width=2)
    return img


def chart_like(size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize("domain", DOMAINS)
def test_builtin_profile_asks_exactly_what_the_critic_is_trained_on(domain: str) -> None:
    reference, candidate = Image.new("RGB", (64, 48), "white"), Image.new("RGB", (64, 48), "red")
    request = builtin_profile().build_request(domain, reference, candidate)
    trained = build_critic_messages(domain, reference, candidate)
    assert request.image_format == "png"
    assert len(request.messages) == len(trained) == 1 and request.messages[0]["role"] == "user"
    parts = request.messages[0]["content"]
    assert [p["type"] for p in parts] == [p["type"] for p in trained[0]["content"]] == ["image", "image", "text"]
    assert parts[2]["text"] == critic_instruction(domain)
    # Pixels unchanged below the cap (PNG is lossless), and the caller's images are never modified in place.
    assert np.array_equal(np.asarray(parts[0]["image"]), np.asarray(reference))
    assert np.array_equal(np.asarray(parts[1]["image"]), np.asarray(candidate))
    assert builtin_profile().sampling.temperature == 0.0  # greedy: a reward must not be a dice roll


def test_builtin_profile_caps_large_images() -> None:
    request = builtin_profile(max_image_side=512).build_request(
        "chart", chart_like((2000, 1000)), chart_like((300, 200))
    )
    images = [p["image"] for p in request.messages[0]["content"] if p["type"] == "image"]
    assert [im.size for im in images] == [(512, 256), (300, 200)]


def test_released_layout_for_tables_system_turn_markers_crop_and_cap() -> None:
    profile = released_style_profile()
    reference = table_screenshot(size=(1000, 600), box=(10, 10, 990, 590))
    candidate = table_screenshot()  # 3600×2400 page, table at (40, 30)–(1240, 430)
    request = profile.build_request("table", reference, candidate)
    system, user = request.messages
    assert system == {"role": "system", "content": "Stand-in system turn."}
    parts = user["content"]
    assert [p["type"] for p in parts] == ["image", "image", "text"]
    assert parts[2]["text"] == "<image>\n<image>\nCompare the tables. Reply in JSON."
    ref_img, cand_img = parts[0]["image"], parts[1]["image"]
    # Reference: only capped (768 on the long side). Candidate: cropped to the table + 12 px, then capped.
    assert ref_img.size == (768, 461)
    crop_w, crop_h = 1240 + 3 - 40 + 2 * 12, 430 + 3 - 30 + 2 * 12  # PIL rectangles include their far edge
    assert max(cand_img.size) == 768 and abs(cand_img.size[0] / cand_img.size[1] - crop_w / crop_h) < 0.02
    assert profile.sampling_for("table") == SamplingSettings(
        temperature=0.0, max_new_tokens=8192, repetition_penalty=1.05
    )
    assert profile.sampling_for("chart") == profile.sampling == RELEASED_SAMPLING
    assert profile.domain("table").has_location is False and builtin_profile().domain("table").has_location


def test_released_layout_for_charts_gives_the_pixels_of_a_jpeg_thumbnail() -> None:
    original = chart_like((1600, 1200))
    request = released_style_profile().build_request("chart", original, original)
    seen = request.messages[0]["content"][0]["image"]
    expected = original.copy()
    expected.thumbnail((1024, 1024))
    buffer = io.BytesIO()
    expected.save(buffer, format="JPEG")  # PIL's default quality, as the released encoder calls it
    decoded = np.asarray(Image.open(buffer).convert("RGB"))
    assert seen.size == (1024, 768)
    assert np.array_equal(np.asarray(seen), decoded)
    assert not np.array_equal(np.asarray(seen), np.asarray(original.resize((1024, 768))))  # JPEG really applied
    assert request.image_format == "png"  # already-JPEG'd pixels travel losslessly: not compressed twice


def test_text_before_images_is_a_setting() -> None:
    profile = builtin_profile()
    chart = replace(profile.domain("chart"), images_first=False, image_prefix="[img]")
    flipped = replace(profile, domains={**profile.domains, "chart": chart})
    parts = flipped.build_request("chart", Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8))).messages[0]["content"]
    assert [p["type"] for p in parts] == ["text", "image", "image"]
    assert parts[0]["text"].startswith("[img][img]The first image is the reference")


def test_profile_file_round_trip(tmp_path: Path) -> None:
    profile = released_style_profile()
    path = save_profile(profile, tmp_path / "profile.json")
    loaded = load_profile(path)
    assert loaded == profile
    assert loaded.domain("table").image == ImageEncoding(format="png", max_side=768, crop_padding=12)
    assert load_profile(save_profile(builtin_profile(), tmp_path / "builtin.json")) == builtin_profile()


def test_a_loaded_profile_goes_through_the_chat_template_and_processor(tmp_path: Path, tiny_model_dir: Path) -> None:
    profile = load_profile(save_profile(released_style_profile(), tmp_path / "profile.json"))
    request = profile.build_request("table", table_screenshot((800, 500), (20, 20, 400, 200)), table_screenshot())
    images = [p["image"] for m in request.messages[1:] for p in m["content"] if p["type"] == "image"]
    processor = load_processor(tiny_model_dir)
    text = processor.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nStand-in system turn.<|im_end|>\n<|im_start|>user\n")
    assert text.count("<|vision_start|>") == 2 and "<image>\n<image>\nCompare the tables." in text
    encoded = encode_prompt(processor, request.messages, images)
    assert int((encoded["mm_token_type_ids"] == 1).sum()) > 0


def _write(tmp_path: Path, obj: object) -> Path:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format_version=2), "format_version"),
        (lambda d: d.pop("sampling"), "missing keys \\['sampling'\\]"),
        (lambda d: d["domains"].pop("svg"), "domains: missing keys \\['svg'\\]"),
        (lambda d: d["domains"]["chart"].update(instrucion="typo"), "domains.chart: .*unknown keys \\['instrucion'\\]"),
        (lambda d: d["domains"]["chart"].update(instruction=""), "domains.chart.instruction"),
        (lambda d: d["domains"]["table"]["image"].update(format="webp"), "domains.table.image.format"),
        (lambda d: d["domains"]["table"]["image"].update(max_side=True), "image.max_side"),
        (lambda d: d["domains"]["table"]["image"].update(jpeg_quality=0), "image.jpeg_quality"),
        (lambda d: d["sampling"].update(temperature="hot"), "sampling.temperature"),
        (lambda d: d["sampling"].update(top_p=0), "sampling.top_p"),
        (lambda d: d["domains"]["svg"].update(sampling={"max_new_tokens": 1.5}), "domains.svg.sampling.max_new_tokens"),
        (lambda d: d["domains"]["svg"].update(error_fields=["category", "colour"]), "error_fields"),
        (lambda d: d.update(image_format="gif"), "image_format"),
    ],
)
def test_bad_profile_files_name_the_field(tmp_path: Path, mutate, message: str) -> None:  # noqa: ANN001
    data = released_style_profile().to_dict()
    mutate(data)
    with pytest.raises(ProfileError, match=message) as info:
        load_profile(_write(tmp_path, data))
    assert str(tmp_path) in str(info.value)


def test_unreadable_profile_files_are_profile_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": ', encoding="utf-8")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="expected an object"):
        load_profile(_write(tmp_path, ["not", "a", "profile"]))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(ProfileError):
        load_profile(deep)


def test_unknown_domain_and_non_image_are_caller_errors() -> None:
    with pytest.raises(ValueError, match="domain"):
        builtin_profile().build_request("latex", Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8)))
    with pytest.raises(TypeError, match="candidate_image"):
        builtin_profile().build_request("svg", Image.new("RGB", (8, 8)), b"\x89PNG")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "I;16"])
def test_any_image_mode_reaches_the_critic_as_rgb(mode: str) -> None:
    image = Image.new("RGB", (40, 30), (200, 30, 30)).convert(mode)
    for profile in (builtin_profile(), released_style_profile()):
        for domain in DOMAINS:
            request = profile.build_request(domain, image, image)
            images = [
                p["image"] for m in request.messages for p in m["content"] if isinstance(p, dict) and "image" in p
            ]
            assert [im.mode for im in images] == ["RGB", "RGB"]
