"""tools/refine.py end to end: the oracle judge and fixing policy from the refine tests, named in YAML, through the
real render pool; per-round summary, best renders, resume, best-of-N with SSIM, and exit 2 on bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cairosvg
import pytest

from tests.eval.test_refine import TRUE, parse_circles, svg

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("refine_tool", ROOT / "tools" / "refine.py")
assert _spec is not None and _spec.loader is not None
refine_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refine_tool)


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    # Our own trusted SVG, drawn in the test process only to make the reference image.
    (tmp_path / "ref.png").write_bytes(cairosvg.svg2png(bytestring=svg(TRUE).encode(), background_color="white"))
    rows = [{"id": "icon/1", "image": "ref.png", "domain": "svg"}, {"id": "dup", "image": "ref.png", "domain": "svg"}]
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "policy.yaml").write_text("class_path: tests.eval.test_refine.FixFirstPolicy\n")
    (tmp_path / "judge.yaml").write_text(
        "class_path: src.reward.judge.VisualERMJudge\n"
        "init_args:\n"
        "  retries: 0\n"
        "  engine: {class_path: tests.eval.test_refine.PixelOracleEngine}\n"
    )
    (tmp_path / "ssim.yaml").write_text("class_path: src.reward.baselines.pixel.SSIMReward\n")
    (tmp_path / "sampler.yaml").write_text("class_path: tests.eval.test_refine.Sampler\n")
    return {name: tmp_path / f"{name}.{ext}" for name, ext in (("prompts", "jsonl"), ("policy", "yaml"),
            ("judge", "yaml"), ("ssim", "yaml"), ("sampler", "yaml"))} | {"root": tmp_path}  # fmt: skip


def test_refines_each_reference_once_and_reports_rewards_by_round(setup: dict[str, Path]) -> None:
    out = setup["root"] / "out"
    args = ["--prompts", str(setup["prompts"]), "--policy", str(setup["policy"]), "--judge", str(setup["judge"])]
    args += ["--rounds", "3", "--out", str(out), "--workers", "1", "--no-progress"]
    assert refine_tool.main(args) == 0
    rows = [json.loads(line) for line in (out / "refine.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["icon/1"]  # one task per distinct reference image
    assert [v["severity_sum"] for v in rows[0]["versions"]] == [7.0, 4.0, 2.0, 0.0]
    assert parse_circles(rows[0]["best_answer"]) == TRUE and rows[0]["best_round"] == 3
    summary = json.loads((out / "summary.json").read_text())
    by_round = summary["svg"]["best_so_far_by_round"]
    assert by_round == sorted(by_round) and by_round[0] < by_round[-1] and summary["overall"]["improved_share"] == 1.0
    assert (out / "best" / "icon_1.png").stat().st_size > 0
    assert "→" in (out / "summary.md").read_text()
    assert refine_tool.main(args) == 0  # finished tasks are on disk: a rerun refines nothing again
    assert len((out / "refine.jsonl").read_text().splitlines()) == 1
    assert refine_tool.main([*args, "--rounds", "1"]) == 2  # another setting into the same folder: refused


def test_best_of_n_with_a_scalar_reward(setup: dict[str, Path]) -> None:
    out = setup["root"] / "bon"
    args = ["--prompts", str(setup["prompts"]), "--policy", str(setup["sampler"]), "--judge", str(setup["ssim"])]
    assert refine_tool.main([*args, "--best-of-n", "4", "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    [row] = [json.loads(line) for line in (out / "refine.jsonl").read_text().splitlines()]
    assert len(row["versions"]) == 4 and parse_circles(row["best_answer"]) == TRUE


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"--prompts": "missing.jsonl"}, "does not exist"),
        ({"--judge": "ssim"}, "judge config"),  # a scalar reward cannot give the critiques refinement needs
        ({"--policy": "judge"}, "policy config"),
        ({"--rounds": "-1"}, "--rounds"),
    ],
)
def test_bad_input_exits_2(
    setup: dict[str, Path], change: dict[str, str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    values = {"--prompts": str(setup["prompts"]), "--policy": str(setup["policy"]), "--judge": str(setup["judge"])}
    for key, value in change.items():
        values[key] = str(setup[value]) if value in setup else value
    args = [x for kv in values.items() for x in kv] + ["--out", str(setup["root"] / "o"), "--no-progress"]
    assert refine_tool.main(args) == 2
    assert reason in capsys.readouterr().err
