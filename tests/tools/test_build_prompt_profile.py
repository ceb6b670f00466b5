"""tools/build_prompt_profile.py reads a Visual-ERM-shaped clone with ``ast`` and writes a profile the judge can load.

The clone here is a stand-in written for the test: the released repository's file layout and Python constructs,
with our own placeholder words and, in one case, other numbers (so a value the tool hard-coded would show).
"""

from __future__ import annotations

import importlib.util
import json
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from src.engines.engine import SamplingSettings
from src.eval.matching import MatchTask, load_matcher_profile
from src.reward.critic_profile import AnswerProtocol, ImageEncoding, load_profile
from src.reward.reward import ReleasedScoring

_SPEC = importlib.util.spec_from_file_location(
    "build_prompt_profile_tool", Path(__file__).parents[2] / "tools" / "build_prompt_profile.py"
)
assert _SPEC is not None and _SPEC.loader is not None
tool = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tool)

CHART_TEXT = 'STAND-IN chart judge.\nAnswer:\n{\n  "errors": [\n    {"category": "x", "severity": 1, "location": "l", "description": "d"}\n  ]\n}\n'
SVG_TEXT = 'STAND-IN svg judge.\n{\n  "errors": [\n    {"category": "x", "severity": 1, "location": "l", "description": "d"}\n  ]\n}\n'
TABLE_TEXT = '\nSTAND-IN table judge.\n{\n  "errors": [\n    {"type": "x", "description": "d", "severity": 1}\n  ]\n}\n'


def write_stand_in_clone(
    root: Path,
    *,
    temperature: float = 0.7,
    max_side: int = 1024,
    table_side: int = 768,
    padding: int = 12,
    table_tokens: int = 8192,
    attempts: int = 2,
    max_severity: float = 50.0,
    table_failure: int = 4,
    matcher_tokens: int = 8192,
) -> Path:
    """The three reward files, shaped like the public ones; importing them would fail (and must never happen)."""
    folder = root / "rl_scripts" / "reward_func"
    folder.mkdir(parents=True)
    (folder / "reward_utils.py").write_text(
        textwrap.dedent(f"""\
        import os
        raise SystemExit("this stand-in must be parsed, never imported")

        # PROMPT_CHART2CODE_JUDGEMENT = "an old commented-out draft"
        PROMPT_CHART2CODE_JUDGEMENT = "an older draft, rebound below"
        PROMPT_CHART2CODE_JUDGEMENT = {CHART_TEXT!r}
        PROMPT_IMG2SVG_JUDGEMENT = {SVG_TEXT!r}
        MAX_IMG_SIDE = os.getenv('MAX_IMG_SIDE', {max_side})

        def encode_image(img_path):
            with Image.open(img_path) as img:
                buffered = io.BytesIO()
                img.thumbnail((MAX_IMG_SIDE, MAX_IMG_SIDE))
                img.save(buffered, format="JPEG")
            return buffered
        """),
        encoding="utf-8",
    )
    (folder / "omnirender_rm_v3.py").write_text(
        textwrap.dedent(f"""\
        raise SystemExit("never imported")
        SEVERITY_AVG = -25.0
        REWARD_MIN = 0.0
        REWARD_MAX = 2.0
        MAX_SEVERITY = {max_severity}
        BASE_RENDER_SUCCESS_REWARD = 1.0

        def parse_error_response(resp):
            ...

        def extract_json_object(text):
            ...

        def extract_score_from_rm_response(content):
            ...

        def get_reward_from_rm(pred_image_path, gt_image_path, task_type, retry={attempts}):
            ...

        def compute_score(predict_str, ground_truth, extra_info):
            ...

        DEFAULT_MODEL_KWARGS = {{
            "temperature": {temperature},
            "top_p": 0.8,
            "top_k": 20,
            "repetition_penalty": 1.0,
            "presence_penalty": 1.5,
            "max_tokens": 4096,
            "n": 1,
        }}
        """),
        encoding="utf-8",
    )
    (folder / "table_parse_rm_v2.py").write_text(
        textwrap.dedent(f"""\
        raise SystemExit("never imported")

        def vlm_client_qa(vlm_client, serve_name, prompt, image_path, max_new_tokens=512, temperature=0.0):
            if type(image_path) is not list:
                return vlm_client.chat.completions.create(
                    messages=[{{"role": "system", "content": "STAND-IN system."}}, {{"role": "user", "content": []}}],
                    temperature=temperature, max_tokens=max_new_tokens, extra_body={{"repetition_penalty": 1.05}},
                )
            return vlm_client.chat.completions.create(
                messages=[{{"role": "system", "content": "STAND-IN system."}}, {{"role": "user", "content": []}}],
                temperature=temperature, max_tokens=max_new_tokens, extra_body={{"repetition_penalty": 1.05}},
            )

        def build_error_prompt_for_images() -> str:
            prompt = {TABLE_TEXT!r}
            return prompt

        def parse_error_response(resp):
            ...

        def calculate_error_score(error_analysis):
            ...

        def crop_with_padding(image_path, output_path, padding={padding}):
            img = Image.open(image_path).convert("RGB")
            img.thumbnail(({table_side}, {table_side}))

        def compute_score(predict_str, ground_truth, extra_info):
            crop_with_padding(raw_img, final_img, padding={padding})
            prompt = build_error_prompt_for_images()
            # prompt = "Reference:<image>\\nCandidate:<image>\\n" + prompt
            prompt = "<image>\\n<image>\\n" + prompt
            img.thumbnail(({table_side}, {table_side}))
            try:
                resp = vlm_client_qa(client, "reward_service", prompt, image_path=[a, b], max_new_tokens={table_tokens})
                reward_score = None
                if reward_score == None:
                    reward_score = {table_failure}
                return -reward_score
            except Exception:
                reward_score = {table_failure}
                return -reward_score
        """),
        encoding="utf-8",
    )
    (root / "evaluation").mkdir()
    (root / "evaluation" / "evaluation.py").write_text(
        textwrap.dedent("""\
        raise SystemExit("never imported")
        client = None

        def call_api(query, image_paths=None):
            messages = [{"role": "system", "content": "STAND-IN matcher system."}]
            response = client.chat.completions.create(model="m", messages=messages, max_tokens=%d)
            return response

        CATEGORY_ERROR_TYPES = {"table": ["layout_error"], "chart": ["data_error", "text_error"], "svg": ["x_error"]}

        def build_llm_prompt(category, allowed_types, pred_errors, gt_errors):
            pred_list = []
            gt_list = []
            prompt = f\"\"\"
        STAND-IN matcher for {category}; types {allowed_types}; braces {{"matches": []}}
        P: {json.dumps(pred_list, ensure_ascii=False, indent=2)}
        G: {json.dumps(gt_list, ensure_ascii=False, indent=2)}
        \"\"\".strip()
            return prompt

        def parse_llm_output(raw):
            ...

        def evaluate_one_item_with_llm(item, call_api):
            ...
        """)
        % matcher_tokens,
        encoding="utf-8",
    )
    return root


def test_profile_from_a_released_shaped_clone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clone = write_stand_in_clone(tmp_path / "Visual-ERM")
    out = tool.main(["--repo", str(clone), "--out", str(tmp_path / "profiles" / "released.json")])
    assert "wrote" in capsys.readouterr().out
    profile = load_profile(out)

    chart, svg, table = (profile.domain(d) for d in ("chart", "svg", "table"))
    assert (chart.instruction, svg.instruction, table.instruction) == (CHART_TEXT, SVG_TEXT, TABLE_TEXT)
    assert chart.system is None and chart.image_prefix == "" and chart.images_first
    assert chart.image == svg.image == ImageEncoding(format="jpeg", jpeg_quality=75, max_side=1024)
    assert chart.error_fields == ("category", "severity", "location", "description")
    assert profile.sampling == SamplingSettings(
        temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.0, presence_penalty=1.5, max_new_tokens=4096
    )

    assert table.system == "STAND-IN system." and table.image_prefix == "<image>\n"
    assert table.error_fields == ("type", "description", "severity")  # no location in the released table schema
    assert table.image == ImageEncoding(format="png", max_side=768, crop_padding=12, crop_reference=False)
    assert profile.sampling_for("table") == SamplingSettings(
        temperature=0.0,
        max_new_tokens=8192,
        repetition_penalty=1.05,
        server_defaults=("n", "top_p", "top_k", "presence_penalty"),  # fields its create() calls never pass
    )
    # The answer protocol: the released readers, 2 / 1 attempts, 1 + clip(1 - S/50) with S = 25 on failure, -S / -4.
    released_chart = AnswerProtocol(
        parser="released_chart_svg",
        attempts=2,
        scoring=ReleasedScoring("clipped", max_severity=50, render_reward=1, judge_weight=1, failure_severity=25),
    )
    assert chart.protocol == svg.protocol == released_chart
    assert table.protocol == AnswerProtocol(
        parser="released_table", attempts=1, scoring=ReleasedScoring("negative_sum", failure_severity=4, min_reward=-4)
    )
    assert set(profile.source["files"]) == {
        "rl_scripts/reward_func/reward_utils.py",
        "rl_scripts/reward_func/omnirender_rm_v3.py",
        "rl_scripts/reward_func/table_parse_rm_v2.py",
    }

    request = profile.build_request("table", Image.new("RGB", (900, 300), "white"), Image.new("RGB", (900, 300)))
    assert request.messages[0] == {"role": "system", "content": "STAND-IN system."}
    assert request.messages[1]["content"][2]["text"] == "<image>\n<image>\n" + TABLE_TEXT


def test_numbers_come_from_the_clone_not_from_the_tool(tmp_path: Path) -> None:
    clone = write_stand_in_clone(
        tmp_path,
        temperature=0.3,
        max_side=900,
        table_side=640,
        padding=7,
        table_tokens=2048,
        attempts=3,
        max_severity=40.0,
        table_failure=5,
    )
    profile = tool.build_released_profile(clone)
    chart_protocol = profile.domain("chart").protocol
    assert chart_protocol.attempts == 3 and chart_protocol.scoring is not None
    assert chart_protocol.scoring.max_severity == 40.0
    assert profile.domain("table").protocol.scoring == ReleasedScoring(
        "negative_sum", failure_severity=5, min_reward=-5
    )
    assert profile.sampling.temperature == 0.3
    assert profile.domain("chart").image.max_side == 900
    assert profile.domain("table").image == ImageEncoding(format="png", max_side=640, crop_padding=7)
    assert profile.sampling_for("table").max_new_tokens == 2048


def test_missing_or_changed_constructs_are_named(tmp_path: Path) -> None:
    with pytest.raises(tool.ProfileSourceError, match="reward_utils.py: cannot read"):
        tool.build_released_profile(tmp_path / "empty")

    clone = write_stand_in_clone(tmp_path / "a")
    utils = clone / "rl_scripts" / "reward_func" / "reward_utils.py"
    utils.write_text(utils.read_text().replace("PROMPT_IMG2SVG_JUDGEMENT", "SVG_PROMPT"))
    with pytest.raises(tool.ProfileSourceError, match="no module-level assignment to PROMPT_IMG2SVG_JUDGEMENT"):
        tool.build_released_profile(clone)

    clone = write_stand_in_clone(tmp_path / "b")
    table = clone / "rl_scripts" / "reward_func" / "table_parse_rm_v2.py"
    table.write_text(table.read_text().replace('"<image>\\n<image>\\n"', '"<image>\\n"'))
    with pytest.raises(tool.ProfileSourceError, match="one marker per image"):
        tool.build_released_profile(clone)

    clone = write_stand_in_clone(tmp_path / "d")
    table = clone / "rl_scripts" / "reward_func" / "table_parse_rm_v2.py"
    text = table.read_text().replace("resp = vlm_client_qa(", "for _ in range(3): resp = vlm_client_qa(")
    table.write_text(text)
    with pytest.raises(tool.ProfileSourceError, match="one vlm_client_qa call outside loops"):
        tool.build_released_profile(clone)

    clone = write_stand_in_clone(tmp_path / "e")
    reward = clone / "rl_scripts" / "reward_func" / "omnirender_rm_v3.py"
    reward.write_text(reward.read_text().replace("def extract_json_object", "def find_json"))
    with pytest.raises(tool.ProfileSourceError, match="no function extract_json_object"):
        tool.build_released_profile(clone)

    clone = write_stand_in_clone(tmp_path / "c")
    table = clone / "rl_scripts" / "reward_func" / "table_parse_rm_v2.py"
    table.write_text(table.read_text() + "\ndef broken(:\n")
    with pytest.raises(tool.ProfileSourceError, match="not readable Python"):
        tool.build_released_profile(clone)


def test_cli_reports_a_bad_clone_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        tool.main(["--repo", str(tmp_path), "--out", str(tmp_path / "p.json")])
    assert info.value.code == 2 and "cannot read" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def test_profile_file_is_plain_json_with_provenance(tmp_path: Path) -> None:
    out = tool.main(["--repo", str(write_stand_in_clone(tmp_path / "clone")), "--out", str(tmp_path / "p.json")])
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["format_version"] == 1 and data["source"]["repository"] == "InternLM/Visual-ERM"
    assert all(len(sha) == 64 for sha in data["source"]["files"].values())


def test_matcher_profile_from_the_evaluator(tmp_path: Path) -> None:
    clone = write_stand_in_clone(tmp_path / "clone", matcher_tokens=777)
    tool.main(["--repo", str(clone), "--out", str(tmp_path / "p.json"), "--bench-out", str(tmp_path / "bench.json")])
    profile = load_matcher_profile(tmp_path / "bench.json")
    assert profile.system == "STAND-IN matcher system."
    assert profile.sampling == SamplingSettings(temperature=1.0, top_p=1.0, max_new_tokens=777)
    assert profile.allowed_types["chart"] == ("data_error", "text_error") and profile.attempts == 1
    pred = ({"category": "data_error", "severity": 2, "location": "bar", "description": "höher"},)
    text = profile.prompt_for(MatchTask("chart", pred, ()))
    # What the evaluator's f-string gives: literal braces kept, the Python list's str, two-space JSON, ASCII not forced.
    expected_pred = (
        '[\n  {\n    "pred_id": 0,\n    "type": "data_error",\n    "description": "höher",\n    "severity": 2\n  }\n]'
    )
    assert text == (
        "STAND-IN matcher for chart; types ['data_error', 'text_error']; braces {\"matches\": []}\n"
        f"P: {expected_pred}\nG: []"
    )
    request = profile.request(MatchTask("chart", pred, ()))
    assert request.messages == [
        {"role": "system", "content": "STAND-IN matcher system."},
        {"role": "user", "content": [{"type": "text", "text": text}]},
    ]


def test_unknown_matcher_placeholder_is_named(tmp_path: Path) -> None:
    clone = write_stand_in_clone(tmp_path / "clone")
    evaluator = clone / "evaluation" / "evaluation.py"
    evaluator.write_text(evaluator.read_text().replace("{category}", "{category.upper()}"))
    with pytest.raises(tool.ProfileSourceError, match="unknown placeholder"):
        tool.build_matcher_profile(clone)
