"""tools/bench_judge.py end to end: score a predictions file, run a judge from YAML (resumably), scalar rewards,
compare runs, and refuse bad input with exit status 2 and a reason."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from src.engines.engine import SamplingSettings
from src.eval.matching import MatcherProfile, save_matcher_profile

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_judge_tool", ROOT / "tools" / "bench_judge.py")
assert _spec is not None and _spec.loader is not None
bench_judge = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_judge)

# An engine a YAML can name: answers every request with the critique stored for it in a JSON file (looked up by the
# candidate image's size, which differs per bench pair), and logs each request to count them across runs.
ORACLE_ENGINE = """
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from src.engines.engine import ChatRequest, Completion, SamplingSettings, WeightUpdate


class SizeOracleEngine:
    weights_version = 0

    def __init__(self, answers: str, log: str) -> None:
        self.answers = json.loads(Path(answers).read_text())
        self.log = Path(log)

    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]:
        out = []
        for request in requests:
            images = [p["image"] for p in request.messages[-1]["content"] if p.get("type") == "image"]
            key = "x".join(map(str, images[-1].size))
            with open(self.log, "a") as f:
                f.write(key + "\\n")
            out.append([Completion(text=self.answers.get(key, "no idea"))])
        return out

    def update_weights(self, update: WeightUpdate) -> None:
        pass

    def close(self) -> None:
        pass
"""


@pytest.fixture
def bench(pair_shards: Path) -> Path:
    return pair_shards / "bench.jsonl"


def bench_rows(bench: Path) -> list[dict]:
    return [json.loads(line) for line in bench.read_text().splitlines() if line.strip()]


def test_scores_a_predictions_file(bench: Path, tmp_path: Path) -> None:
    rows = bench_rows(bench)
    # Perfect predictions for chart and svg; the table critique failed to parse (pred_json null).
    preds = [{**r, "pred_json": None if r["category"] == "table" else {"errors": r["human_errors"]}} for r in rows]
    pred_path = tmp_path / "pred.json"
    pred_path.write_text(json.dumps(preds))
    out = tmp_path / "out"
    code = bench_judge.main(["--bench", str(bench), "--predictions", str(pred_path), "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    for scope in ("overall", "chart", "table", "svg"):
        assert {"f1_hard", "f1_soft", "severity_pearson", "pairs"} <= set(summary[scope])
    assert summary["chart"]["f1_hard"] == 1.0 and summary["svg"]["f1_soft"] == 1.0
    table_errors = len(next(r for r in rows if r["category"] == "table")["human_errors"])
    assert summary["table"]["fn"] == table_errors and summary["table"]["parse_failures"] == 1
    assert summary["overall"]["pairs"] == 3
    assert "| chart | 1 | 100.0 |" in (out / "summary.md").read_text()
    assert (out / "summary.csv").read_text().startswith("scope,type,pairs,f1_hard")
    assert len((out / "per_pair.jsonl").read_text().splitlines()) == 3


def write_judge_config(tmp_path: Path, bench: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A VisualERMJudge YAML whose engine knows the true critique of every bench pair."""
    from PIL import Image

    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "oracle_engine.py").write_text(ORACLE_ENGINE)
    monkeypatch.syspath_prepend(str(module_dir))
    answers = {}
    for row in bench_rows(bench):
        with Image.open(bench.parent / row["pred_img_path"]) as img:
            answers["x".join(map(str, img.size))] = json.dumps({"errors": row["human_errors"]})
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    log = tmp_path / "requests.log"
    config = tmp_path / "judge.yaml"
    config.write_text(
        "class_path: src.reward.judge.VisualERMJudge\n"
        "init_args:\n"
        "  retries: 0\n"
        "  engine:\n"
        "    class_path: oracle_engine.SizeOracleEngine\n"
        f"    init_args: {{answers: {tmp_path / 'answers.json'}, log: {log}}}\n"
    )
    return config, log


def test_runs_a_judge_from_yaml_and_a_rerun_judges_nothing_again(
    bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, log = write_judge_config(tmp_path, bench, monkeypatch)
    out = tmp_path / "out"
    args = ["--bench", str(bench), "--judge", str(config), "--out", str(out), "--no-progress"]
    assert bench_judge.main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["f1_hard"] == 1.0 and summary["overall"]["parse_failures"] == 0
    assert summary["run"]["kind"] == "critique" and summary["run"]["timing"]["judged"] == 3
    predictions = json.loads((out / "predictions.json").read_text())
    assert all(isinstance(r["pred_json"], dict) for r in predictions)
    assert len(log.read_text().splitlines()) == 3
    assert bench_judge.main(args) == 0  # finished pairs are on disk: nothing is asked again
    assert len(log.read_text().splitlines()) == 3
    # The written predictions file scores the same through --predictions.
    again = tmp_path / "again"
    assert (
        bench_judge.main(["--bench", str(bench), "--predictions", str(out / "predictions.json"), "--out", str(again)])
        == 0
    )
    assert json.loads((again / "summary.json").read_text())["overall"]["f1_hard"] == 1.0


def test_scalar_reward_from_yaml_and_comparison_table(bench: Path, tmp_path: Path) -> None:
    config = tmp_path / "ssim.yaml"
    config.write_text("class_path: src.reward.baselines.pixel.SSIMReward\ninit_args: {max_side: 64}\n")
    ssim_out = tmp_path / "ssim"
    assert (
        bench_judge.main(["--bench", str(bench), "--judge", str(config), "--out", str(ssim_out), "--no-progress"]) == 0
    )
    summary = json.loads((ssim_out / "summary.json").read_text())
    assert summary["run"]["kind"] == "scalar" and summary["overall"]["f1_hard"] is None
    assert summary["overall"]["pairs"] == 3 and "ordering_within_domain" in summary["overall"]
    rewards = json.loads((ssim_out / "rewards.json").read_text())
    # The same rewards file scores the same through --rewards.
    rew_out = tmp_path / "rew"
    assert (
        bench_judge.main(["--bench", str(bench), "--rewards", str(ssim_out / "rewards.json"), "--out", str(rew_out)])
        == 0
    )
    assert (
        json.loads((rew_out / "summary.json").read_text())["overall"]["severity_pearson"]
        == summary["overall"]["severity_pearson"]
    )
    assert len(rewards) == 3
    cmp_out = tmp_path / "cmp"
    assert bench_judge.main(["--compare", str(ssim_out), str(rew_out), "--out", str(cmp_out)]) == 0
    table = (cmp_out / "comparison.md").read_text()
    assert "| ssim |" in table and "| rew |" in table and "AVG F1h" in table


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--predictions", "missing.json"], "does not exist"),
        (["--judge", "bad.yaml"], "judge config"),
        (["--judge", "notyaml.yaml"], "class_path"),
        (["--rewards", "rewards.json"], "finite numbers"),
        (["--predictions", "short.json"], "no prediction row"),
        (["--predictions", "pred.json", "--matcher", "llm"], "--matcher-engine"),
        (["--predictions", "pred.json", "--matcher-profile", "pred.json"], "needs --matcher llm"),
        (["--compare", "broken_run"], "not valid JSON"),
    ],
)
def test_bad_input_exits_2_with_a_reason(
    bench: Path, tmp_path: Path, extra: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = bench_rows(bench)
    (tmp_path / "bad.yaml").write_text("class_path: src.no.such.Judge\n")
    (tmp_path / "notyaml.yaml").write_text("just: a mapping\n")
    (tmp_path / "rewards.json").write_text(json.dumps([{**r, "reward": None} for r in rows]))
    (tmp_path / "short.json").write_text(json.dumps([{**rows[0], "pred_json": None}]))
    (tmp_path / "pred.json").write_text(json.dumps([{**r, "pred_json": None} for r in rows]))
    (tmp_path / "broken_run").mkdir()
    (tmp_path / "broken_run" / "summary.json").write_text("{broken")
    extra = [str(tmp_path / e) if e.endswith((".json", ".yaml")) or e == "broken_run" else e for e in extra]
    code = bench_judge.main(["--bench", str(bench), *extra, "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and reason in err


def test_script_runs_as_a_subprocess(bench: Path, tmp_path: Path) -> None:
    import subprocess

    rows = bench_rows(bench)
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{**r, "pred_json": {"errors": []}} for r in rows]))
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "bench_judge.py"),
            "--predictions",
            str(pred),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["overall"]["pairs"] == 3


def test_tiny_judge_served_over_http_end_to_end(
    bench: Path, tmp_path: Path, tiny_model_dir: Path, tiny_processor: object
) -> None:
    """The real stack: our OpenAI-compatible server (127.0.0.1) with the tiny random judge, OpenAIEngine, the
    VisualERMJudge, the CLI. A random model writes no valid critique, so every pair is a parse failure that predicts
    no errors: F1h is 0 where the bench has errors, and the summary still has every key."""
    from transformers import AutoModelForImageTextToText

    from src.engines.hf_engine import HFEngine
    from src.engines.server import BackgroundServer, ServerSettings, create_app

    engine = HFEngine(AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval(), tiny_processor)
    app = create_app(engine, ServerSettings(served_model_name="tiny-judge", max_tokens_limit=64))
    with BackgroundServer(app, port=0) as server:
        config = tmp_path / "judge.yaml"
        config.write_text(
            "class_path: src.reward.judge.VisualERMJudge\n"
            "init_args:\n"
            "  retries: 0\n"
            "  engine:\n"
            "    class_path: src.engines.openai_engine.OpenAIEngine\n"
            f"    init_args: {{base_urls: '{server.base_url}', timeout_s: 300}}\n"
            "  profile:\n"
            "    sampling: {temperature: 0.0, max_new_tokens: 8}\n"
        )
        out = tmp_path / "out"
        assert (
            bench_judge.main(["--bench", str(bench), "--judge", str(config), "--out", str(out), "--no-progress"]) == 0
        )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["pairs"] == 3 and summary["overall"]["parse_failures"] == 3
    assert summary["overall"]["f1_hard"] == 0.0 and summary["overall"]["tp_hard"] == 0
    predictions = json.loads((out / "predictions.json").read_text())
    assert all(r["pred_json"] is None and isinstance(r["pred_text"], str) for r in predictions)


MATCHER_ENGINE = '''
from __future__ import annotations

from collections.abc import Sequence

from src.engines.engine import ChatRequest, Completion, SamplingSettings, WeightUpdate


class FirstIsPartialEngine:
    """A matcher LLM stand-in: always says predicted error 0 half-matches reference error 0."""

    weights_version = 0

    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]:
        reply = '{"matches": [{"pred_id": 0, "gt_id": 0, "match_level": "partial"}]}'
        return [[Completion(text=reply)] for _ in requests]

    def update_weights(self, update: WeightUpdate) -> None:
        pass

    def close(self) -> None:
        pass
'''


def test_llm_matcher_through_an_engine_yaml(bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "matcher_engine.py").write_text(MATCHER_ENGINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    engine_yaml = tmp_path / "engine.yaml"
    engine_yaml.write_text("class_path: matcher_engine.FirstIsPartialEngine\n")
    rows = [r for r in bench_rows(bench) if r["human_errors"]]
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{**r, "pred_json": {"errors": r["human_errors"][:1]}} for r in rows]))
    out = tmp_path / "out"
    args = ["--predictions", str(pred), "--out", str(out), "--matcher", "llm", "--matcher-engine", str(engine_yaml)]
    assert bench_judge.main(args) == 0
    overall = json.loads((out / "summary.json").read_text())["overall"]
    # one partial match per pair: no hard TP, half a soft TP each, the rest of the reference errors missed
    assert overall["tp_hard"] == 0 and overall["tp_soft"] == 0.5 * len(rows)
    assert overall["fn"] == sum(len(r["human_errors"]) - 1 for r in rows) and overall["fp"] == 0
    assert json.loads((out / "summary.json").read_text())["run"]["matcher"].startswith("llm")


def test_llm_matcher_with_the_evaluator_profile(bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--matcher-profile runs the evaluator's protocol: the profile's prompt is what the engine receives."""
    (tmp_path / "matcher_engine.py").write_text(MATCHER_ENGINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "engine.yaml").write_text("class_path: matcher_engine.FirstIsPartialEngine\n")
    profile = MatcherProfile(
        name="stand-in",
        prompt=({"text": "PAIR "}, {"field": "category"}, {"text": " "}, {"field": "predicted"}),
        system="STAND-IN system.",
        sampling=SamplingSettings(temperature=1.0, max_new_tokens=8192),
        allowed_types={"chart": ("data_error",)},
    )
    save_matcher_profile(profile, tmp_path / "bench_profile.json")
    rows = [r for r in bench_rows(bench) if r["human_errors"]]
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{**r, "pred_json": {"errors": r["human_errors"][:1]}} for r in rows]))
    out = tmp_path / "out"
    args = ["--predictions", str(pred), "--out", str(out), "--matcher", "llm", "--matcher-engine"]
    args += [str(tmp_path / "engine.yaml"), "--matcher-profile", str(tmp_path / "bench_profile.json")]
    assert bench_judge.main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["matcher"].endswith("profile stand-in)")
    assert summary["overall"]["tp_soft"] == 0.5 * len(rows)
