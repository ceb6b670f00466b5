"""tools/eval_policy.py end to end: the tiny Qwen3-VL generates for a couple of prompts through HFEngine, answers
are rendered in the pool and scored, per-sample and aggregate results are written; scoring given answers; bad input
ends with exit status 2 and a reason."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from src.render import RenderJob, RenderPool

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("eval_policy_tool", ROOT / "tools" / "eval_policy.py")
assert _spec is not None and _spec.loader is not None
eval_policy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(eval_policy)

CHART = """
import matplotlib.pyplot as plt
plt.figure(figsize=(4, 3))
plt.plot([1, 2, 3], [3, 1, 2], color="#C44E52")
plt.title("Trend")
"""
TABLE = "<table><tr><th>k</th><th>v</th></tr><tr><td>x</td><td>1</td></tr></table>"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect x="8" y="8" width="40" height="30"/></svg>'


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reference images rendered from known code, listed in a JSONL prompt file with relative paths."""
    folder = tmp_path_factory.mktemp("prompts")
    sources = {"chart": CHART, "table": TABLE, "svg": SVG}
    with RenderPool(workers=1, timeout_s=10) as pool:
        results = pool.render([RenderJob(d, code) for d, code in sources.items()])  # type: ignore[arg-type]
    rows = []
    for (domain, code), result in zip(sources.items(), results, strict=True):
        assert result.ok, result.message
        (folder / f"{domain}.png").write_bytes(result.png)
        rows.append({"id": f"{domain}-0", "image": f"{domain}.png", "domain": domain, "code": code})
    path = folder / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_tiny_model_generates_and_results_are_written(tiny_model_dir, prompt_file, tmp_path, capsys) -> None:
    out = tmp_path / "eval"
    args = ["--model", str(tiny_model_dir), "--prompts", str(prompt_file), "--domains", "chart", "svg"]
    args += ["--out", str(out), "--max-new-tokens", "6", "--workers", "1", "--no-progress", "--report"]
    assert eval_policy.main(args) == 0
    answers = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert [a["id"] for a in answers] == ["chart-0", "svg-0"]
    assert all(a["answer"] and a["finish_reason"] in ("stop", "length") for a in answers)
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    # a random tiny model writes no code: each answer is a scored failure, not a crash or a gap
    assert [s["executed"] for s in samples] == [False, False]
    assert samples[0]["metrics"]["low_level"] == 0.0 and samples[1]["metrics"]["mse"] == 1.0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["overall"] == {"samples": 2, "execution_rate": 0.0, "missing": {}}
    assert summary["config"]["policy"].startswith("HFEngine")
    assert (out / "summary.md").is_file() and (out / "report.html").is_file()
    assert "## chart (1 samples)" in capsys.readouterr().out


def test_given_answers_are_scored_per_domain(prompt_file, tmp_path) -> None:
    answers = tmp_path / "answers.jsonl"
    rows = [
        {"id": "chart-0", "answer": f"```python\n{CHART}```"},
        {"id": "table-0", "answer": TABLE.replace(">1<", ">2<")},
        {"id": "svg-0", "answer": SVG},
    ]
    answers.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "eval"
    args = ["--answers", str(answers), "--prompts", str(prompt_file), "--out", str(out), "--workers", "1"]
    judge = tmp_path / "judge.yaml"  # any scalar reward can be the judge; its mean lands beside the metrics
    judge.write_text("class_path: src.reward.baselines.pixel.SSIMReward\ninit_args: {max_side: 64}\n")
    args += ["--judge", str(judge)]
    assert eval_policy.main([*args, "--no-progress", "--score-chunk", "2"]) == 0  # two pool calls: 2 + 1 samples
    summary = json.loads((out / "summary.json").read_text())["summary"]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["id"] for s in samples] == ["chart-0", "table-0", "svg-0"]
    assert len({s["candidate_image"] for s in samples}) == 3  # image names do not collide across chunks
    assert summary["chart"]["low_level"] == 1.0 and summary["chart"]["execution_rate"] == 1.0
    assert summary["table"]["teds_s"] == 1.0 and 0.8 < summary["table"]["teds"] < 1.0
    assert summary["svg"]["ssim"] == pytest.approx(1.0) and summary["overall"]["execution_rate"] == 1.0
    assert summary["svg"]["judge_reward"] == pytest.approx(1.0) and 0.0 < summary["table"]["judge_reward"] <= 1.0
    assert all(isinstance(s["judge_reward"], float) for s in samples)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--answers", "missing.jsonl"], "does not exist"),
        (["--answers", "{answers}", "--limit", "0"], "--limit"),
        (["--answers", "{answers}", "--judge", "{bad_yaml}"], "judge config"),
        (["--answers", "{answers}", "--domains", "table"], "no answer for 1"),
    ],
)
def test_bad_input_exits_2_with_a_reason(prompt_file, tmp_path, capsys, extra, reason) -> None:
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"id": "chart-0", "answer": CHART}) + "\n")
    bad_yaml = tmp_path / "judge.yaml"
    bad_yaml.write_text("class_path: no.such.Module\n")
    extra = [e.format(answers=answers, bad_yaml=bad_yaml) for e in extra]
    code = eval_policy.main(["--prompts", str(prompt_file), "--out", str(tmp_path / "o"), *extra])
    assert code == 2
    assert reason in capsys.readouterr().err
