"""tools/main_job.py: the whole story end to end on the tiny model (slow), and its step bookkeeping (fast)."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("main_job", ROOT / "tools" / "main_job.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["main_job"] = module
    spec.loader.exec_module(module)
    return module


main_job = load_tool()


def recording_steps(calls: list[str], fail: str | None = None) -> dict:
    """Steps that record that they ran and write an output file; ``fail`` raises inside that step."""

    def make(name: str):
        def step(job):
            calls.append(name)
            if name == fail:
                raise ValueError("the disk is on fire")
            out = job.dir(name) / "out.txt"
            out.write_text(name)
            return out

        step.__doc__ = f"Step {name}."
        return step

    return {name: make(name) for name in ("a", "b", "c")}


def test_done_steps_are_skipped_and_force_reruns_from_that_step(tmp_path: Path) -> None:
    job = main_job.MainJob(root=tmp_path / "run")
    calls: list[str] = []
    assert main_job.run(job, steps=recording_steps(calls)) == tmp_path / "run" / "c" / "out.txt"
    assert calls == ["a", "b", "c"]
    calls.clear()
    assert main_job.run(job, steps=recording_steps(calls)) == tmp_path / "run" / "c" / "out.txt"
    assert calls == []
    main_job.run(job, force="b", steps=recording_steps(calls))
    assert calls == ["b", "c"]
    calls.clear()
    main_job.run(job, force="all", steps=recording_steps(calls))
    assert calls == ["a", "b", "c"]


def test_a_failing_step_is_named_and_the_job_resumes_there(tmp_path: Path) -> None:
    job = main_job.MainJob(root=tmp_path / "run")
    calls: list[str] = []
    with pytest.raises(main_job.StepError, match="failed at step 'b': ValueError: the disk is on fire") as caught:
        main_job.run(job, steps=recording_steps(calls, fail="b"))
    assert caught.value.step == "b" and calls == ["a", "b"]
    assert not main_job.done_marker(job, "b").exists()  # a failed step is not marked done
    calls.clear()
    main_job.run(job, steps=recording_steps(calls))
    assert calls == ["b", "c"]  # the rerun continues at the failed step


def test_until_stops_after_that_step(tmp_path: Path) -> None:
    job = main_job.MainJob(root=tmp_path / "run")
    calls: list[str] = []
    assert main_job.run(job, until="b", steps=recording_steps(calls)) == tmp_path / "run" / "b" / "out.txt"
    assert calls == ["a", "b"]
    main_job.run(job, steps=recording_steps(calls))
    assert calls == ["a", "b", "c"]


def test_a_finished_adapter_is_merged_not_retrained(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A GRPO adapter written by a run elsewhere (multi-node): the step merges it instead of training again."""
    from src.models.loading import LoraSettings, VLMLoader, load_vlm, save_adapter

    job = main_job.MainJob(root=tmp_path / "run", base_model=str(tiny_model_dir))
    model, processor = load_vlm(VLMLoader(str(tiny_model_dir), lora=LoraSettings(r=4, alpha=8, dropout=0.0)))
    save_adapter(model, job.dir("grpo") / "adapter", processor)
    job.grpo_config = tmp_path / "never-read.yaml"  # training would fail on it
    assert main_job.step_grpo(job) == job.dir("grpo")
    assert (job.policy / "config.json").exists()


def test_a_training_stopped_by_sigterm_is_a_failed_step_not_a_done_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lightning ends ``fit`` normally after SIGTERM (a kill from a scheduler or a person): the step must not count."""
    import src.cli

    finished: list[bool] = []

    def cli_main(args: list[str]) -> SimpleNamespace:
        return SimpleNamespace(trainer=SimpleNamespace(received_sigterm=finished.pop()))

    monkeypatch.setattr(src.cli, "main", cli_main)
    job = main_job.MainJob(root=tmp_path)
    (tmp_path / "critic").mkdir()
    finished.append(False)
    main_job.fit(job, "critic", {"trainer": {}})
    finished.append(True)
    with pytest.raises(main_job.StepError, match="stopped by SIGTERM"):
        main_job.fit(job, "critic", {"trainer": {}})
    calls: list[str] = []

    def killed(job: object) -> Path:
        """Critic SFT, killed part-way."""
        finished.append(True)
        main_job.fit(job, "critic", {"trainer": {}})  # type: ignore[arg-type]
        return tmp_path

    with pytest.raises(main_job.StepError, match="stopped by SIGTERM"):
        main_job.run(job, steps={"a": recording_steps(calls)["a"], "critic": killed})
    assert calls == ["a"] and main_job.done_marker(job, "a").exists()
    assert not main_job.done_marker(job, "critic").exists()  # a rerun trains it again


def test_unknown_forced_step_is_refused(tmp_path: Path) -> None:
    with pytest.raises(main_job.StepError, match="no such step"):
        main_job.run(main_job.MainJob(root=tmp_path), force="nope", steps=recording_steps([]))


def test_a_failing_tool_names_the_step_and_the_tools_reason(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The real report step on a root with nothing in it: the report tool refuses, the job says which step and why."""
    job = main_job.MainJob(root=tmp_path / "run")
    steps = {"report": main_job.STEP_FUNCTIONS["report"]}
    with pytest.raises(main_job.StepError) as caught:
        main_job.run(job, steps=steps)
    message = str(caught.value)
    assert message.startswith("main job failed at step 'report': report.py exited with status 2")
    assert "eval" in message  # the tool's own one-line reason travels into the message
    assert not main_job.done_marker(job, "report").exists()


def test_cli_exits_1_with_the_step_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Every step but the report marked done with nothing behind it: the report step fails, the CLI says so."""
    job = main_job.MainJob(root=tmp_path / "run")
    for step in main_job.STEPS[:-1]:
        job.dir(step).mkdir(parents=True)
        main_job.done_marker(job, step).write_text(json.dumps({"output": str(job.dir(step))}))
    assert main_job.main(["--quick", "--root", str(job.root), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "main job failed at step 'report'" in captured.err
    assert captured.out.count("skipped") == len(main_job.STEPS) - 1


@pytest.mark.slow
def test_main_job_end_to_end_on_the_tiny_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "main"
    assert main_job.main(["--quick", "--root", str(root), "--no-progress"]) == 0
    out = capsys.readouterr().out
    report = root / "report" / "index.html"
    assert f"report: {report.resolve()}" in out
    assert report.stat().st_size > 1000 and "<img" in report.read_text()
    for step in main_job.STEPS:
        assert main_job.done_marker(main_job.MainJob(root=root), step).exists(), step

    # the critic learned its training pairs: loss down, and its greedy critiques parse
    rows = list(csv.DictReader((root / "critic" / "csv" / "metrics.csv").open()))
    losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    assert losses[-1] < 0.5 * losses[0]
    validation = {k: float(v) for r in rows for k, v in r.items() if k.startswith("val/") and v}
    assert validation["val/parse_rate"] >= 0.5 and validation["val/f1"] >= 0.5  # measured: 1.0 and 1.0
    # every training stage wrote TensorBoard events next to the CSV the report reads
    for step in ("critic", "grpo"):
        assert list((root / step / "tensorboard").glob("events.out.tfevents.*")), step
        assert (root / step / "csv" / "metrics.csv").exists(), step
    bench = json.loads((root / "bench" / "summary.json").read_text())
    assert bench["overall"]["pairs"] >= 1
    assert (root / "bench" / "predictions.json").exists()
    assert json.loads((root / "probes" / "probes.json").read_text())
    assert (root / "refine" / "summary.json").exists()
    assert (root / "eval" / "summary.json").exists()

    # a rerun skips every finished step
    assert main_job.main(["--quick", "--root", str(root), "--no-progress"]) == 0
    assert capsys.readouterr().out.count("skipped") == len(main_job.STEPS)


def test_composed_grpo_configs_merge_like_repeated_config_flags() -> None:
    configs = main_job.ROOT / "configs" / "grpo"
    merged = main_job.composed_config([configs / "qwen3vl_8b_base.yaml", configs / "qwen3vl_8b_svg_lora.yaml"])
    base = main_job.composed_config(configs / "qwen3vl_8b_base.yaml")
    assert merged["data"]["init_args"]["domains"] == ["svg"] != base["data"]["init_args"].get("domains")
    assert merged["trainer"]["default_root_dir"] == "runs/grpo_8b_svg_lora"
    assert merged["trainer"]["max_steps"] == base["trainer"]["max_steps"]  # keys the second file leaves alone stay
    args = main_job.build_parser().parse_args(["--quick", "--grpo-config", str(configs / "a.yaml"), "b.yaml"])
    assert [p.name for p in args.grpo_config] == ["a.yaml", "b.yaml"]


def test_a_judge_profile_reaches_every_judge_and_a_real_base_gets_the_public_budget(tmp_path: Path) -> None:
    job = main_job.MainJob(root=tmp_path, judge_profile=tmp_path / "released.json")
    judge = yaml.safe_load(main_job.judge_yaml(job, tmp_path / "judge.yaml").read_text())["init_args"]
    assert judge["profile"] == str(tmp_path / "released.json") and "retries" not in judge
    tiny = yaml.safe_load(main_job.judge_yaml(main_job.MainJob(root=tmp_path), tmp_path / "j.yaml").read_text())
    assert tiny["init_args"]["retries"] == 0 and tiny["init_args"]["profile"]["sampling"]["temperature"] == 0.0
    assert main_job.MainJob(root=tmp_path).policy_max_new_tokens == 64
    assert main_job.MainJob(root=tmp_path, base_model="Qwen/Qwen3-VL-8B-Instruct").policy_max_new_tokens == 8192
    assert main_job.MainJob(root=tmp_path, base_model="x", max_new_tokens=2048).policy_max_new_tokens == 2048


def test_dry_run_prints_what_the_judge_and_the_policy_would_be_sent(tmp_path: Path, capsys) -> None:
    """With a released-style profile and an 8B base: the profile's attempts, sampling, image caps and formats per
    domain, and the public answer budget for the policy — read before any GPU is rented."""
    from src.reward.critic_profile import save_profile
    from tests.reward.test_released_protocol import released_profile

    profile = save_profile(released_profile(), tmp_path / "released.json")
    args = ["--dry-run", "--judge-profile", str(profile), "--base-model", "Qwen/Qwen3-VL-8B-Instruct"]
    assert main_job.main([*args, "--root", str(tmp_path / "job")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert not (tmp_path / "job").exists()  # nothing ran

    for domain, attempts, side, image_format in (
        ("chart", 2, 1024, "jpeg"),
        ("svg", 2, 1024, "jpeg"),
        ("table", 1, 768, "png"),
    ):
        judge = out["judge"][domain]
        assert judge["attempts"] == attempts
        images = [p for m in judge["request"]["messages"] for p in m["content"] if p["type"] == "image"]
        assert len(images) == 2 and all(max(p["size"]) <= side and p["format"] == image_format for p in images)
        assert out["policy"][domain]["eval_and_refine"]["sampling"]["max_new_tokens"] == 8192
    chart = out["judge"]["chart"]["request"]["sampling"]
    assert (chart["temperature"], chart["top_p"], chart["top_k"], chart["max_new_tokens"]) == (0.7, 0.8, 20, 4096)
    table = out["judge"]["table"]["request"]
    assert table["messages"][0]["role"] == "system" and table["sampling"]["max_new_tokens"] == 8192
