"""The miniature job's own logic: the baselines' critiques, the summary's keys, the report; and (slow) the whole job
at toy sizes through the real CLI."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from src.data.seeds.svg.mini import MINI_COLOURS
from src.data.shape_reading import paired_reading
from src.data.synthesis import SynthesisConfig, synthesize

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import main_job  # noqa: E402
import miniature  # noqa: E402
import miniature_answers  # noqa: E402
import miniature_rollouts  # noqa: E402


@pytest.fixture(scope="module")
def mini_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mini-data")
    config = SynthesisConfig(domains=("svg",), n_per_domain=120, seed_family="mini", workers=1,
                             perturbation_kinds=miniature.MINI_KINDS, max_perturbations=2)  # fmt: skip
    synthesize(out, config, progress=False)
    return out


def test_baselines_name_nothing_or_the_majority_discrepancy_where_pixels_differ(mini_data: Path) -> None:
    rows = [json.loads(line) for line in (mini_data / "bench.jsonl").read_text().splitlines()]
    assert rows
    train = main_job.read_jsonl(mini_data / "train.jsonl")
    predictions = miniature.baseline_predictions(train, mini_data / "bench.jsonl", mini_data)
    assert all(r["pred_json"]["errors"] == [] for r in predictions["empty"])
    majority = predictions["pixel_majority"]
    assert len(majority) == len(rows)
    for row, pred in zip(rows, majority, strict=True):
        errors = pred["pred_json"]["errors"]
        # a candidate with true discrepancies differs in pixels (synthesis checks it); one without does not
        assert (len(errors) == 1) == bool(row["human_errors"]), row["id"]
        if errors:
            category = errors[0]["category"].removesuffix("_error")
            assert pred["pred_json"][f"{category}_error_count"] == 1
    assert len({json.dumps(p["pred_json"]["errors"]) for p in majority if p["pred_json"]["errors"]}) == 1


def test_policy_references_are_unseen_by_sft_and_split_between_test_and_rl(mini_data: Path, tmp_path: Path) -> None:
    job = miniature.MiniJob(root=tmp_path, eval_references=10, rl_references=20, progress=False)
    (tmp_path / "data").symlink_to(mini_data)
    seen = {row["reference_source"] for row in main_job.read_jsonl(mini_data / "train.jsonl")}
    test, rl = (main_job.read_jsonl(miniature.policy_references(job, name)) for name in ("eval", "rl"))
    codes = {name: [row["reference_source"] for row in rows] for name, rows in (("eval", test), ("rl", rl))}
    assert len(codes["eval"]) == 10 and 10 <= len(codes["rl"]) <= 20
    assert not (set(codes["eval"]) | set(codes["rl"])) & seen  # no reference the base was fitted to
    assert not set(codes["eval"]) & set(codes["rl"]) and len(set(codes["eval"])) == 10  # distinct, disjoint
    assert all((mini_data / "policy_draw" / row["reference_image"]).is_file() for row in test + rl)


def test_the_base_answers_become_pairs_labelled_against_their_own_reference(mini_data: Path, tmp_path: Path) -> None:
    by_source = {r["reference_source"]: r for r in main_job.read_jsonl(mini_data / "train.jsonl")}
    prompts = list(by_source.values())[:4]  # four distinct references
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in prompts))
    source = [p["reference_source"] for p in prompts]
    image = str(mini_data / prompts[0]["reference_image"])
    answers = [
        f"```svg\n{source[0]}```",  # right
        source[1].replace('fill="#', 'fill="#0', 1),  # a fill that is no colour: not labelable
        "no svg",  # did not render
        source[0],  # another reference's picture
    ]
    samples = [{"id": p["id"], "executed": i != 2, "answer": a, "reference_image": image, "candidate_image": image}
               for i, (p, a) in enumerate(zip(prompts, answers, strict=True))]  # fmt: skip
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in samples))
    rows, left_out = miniature_answers.labelled_rows(tmp_path / "prompts.jsonl", tmp_path / "samples.jsonl")
    assert left_out == {"not rendered": 1, "fill not a #rrggbb colour": 1}
    assert [r["id"] for r in rows] == [f"{prompts[i]['id']}-answer" for i in (0, 3)]
    assert rows[0]["critique"]["errors"] == [] and rows[0]["candidate_source"] == source[0].strip()
    assert rows[1]["reference_source"] == source[3] and rows[1]["critique"]["errors"]  # against its own reference
    bench = miniature_answers.bench_row(rows[1])
    assert bench["gt_img_path"] == rows[1]["reference_image"]
    assert len(bench["human_errors"]) == len(rows[1]["critique"]["errors"])


def test_rollout_agreement_labels_each_logged_rollout_and_scores_both_rewards(mini_data: Path, tmp_path: Path) -> None:
    import cairosvg

    reference = main_job.read_jsonl(mini_data / "train.jsonl")[0]
    source = reference["reference_source"]
    colour = source.split('fill="', 1)[1][:7]
    recoloured = source.replace(colour, next(c for c in MINI_COLOURS if c != colour))
    (tmp_path / "rl.jsonl").write_text(json.dumps(reference) + "\n")
    step_dir = tmp_path / "grpo" / "grpo_critic_s0" / "tensorboard" / "rollout_samples" / "step000000-rank0"
    step_dir.mkdir(parents=True)
    (step_dir / "g0-reference.png").write_bytes((mini_data / reference["reference_image"]).read_bytes())
    (step_dir / "g0-0.png").write_bytes((mini_data / reference["reference_image"]).read_bytes())
    (step_dir / "g0-1.png").write_bytes(cairosvg.svg2png(bytestring=recoloured.encode()))
    # the critic's rewards: right and recoloured tied, unrendered lowest, a path it cannot label left out
    rollouts = [
        (source, True, 1.0),
        (recoloured, True, 1.0),
        ("oops", False, 0.0),
        (source.replace(">", "><path d='M0 0'/>", 1), True, 2.0),
    ]
    # a transcribing critic's readings: right for the first two, so their exact diff orders them as the truth does
    readings = [(source, source), (source, recoloured), None, (source, source)]
    critiques = [f"<think>\n```svg\n{a}```\n```svg\n{b}```\n</think>\n{{}}" if pair else None
                 for pair in readings for a, b in [pair or ("", "")]]  # fmt: skip
    rows = [{"prompt_id": reference["id"], "group": 0, "rollout": j, "domain": "svg", "completion": code,
             "rendered": ok, "reward": reward, "critique": critique}
            for j, ((code, ok, reward), critique) in enumerate(zip(rollouts, critiques, strict=True))]  # fmt: skip
    (step_dir / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    job = miniature.MiniJob(root=tmp_path, critic_seeds=(0, 1), baseline_seeds=())
    out = miniature_rollouts.step_agreement(
        job, job.grpo_runs(), tmp_path / "rl.jsonl", miniature.pixel_reward_config()
    )
    assert set(out) == {"grpo_critic_s0"}  # seed 1 logged nothing
    entry = out["grpo_critic_s0"]
    assert entry["unlabelable"] == {"not a plain shape": 1}
    assert entry["reward"]["pairs"] == 3 and entry["reward"]["agreement"] == pytest.approx(2.5 / 3)
    assert entry["pixel"]["agreement"] == 1.0 and entry["pixel"]["tied_groups"] == 0.0
    assert entry["readings"]["agreement"] == 1.0 and entry["readings"]["pairs"] == 3
    assert miniature_rollouts.reading_score("<think>\n```svg\n<svg/>```\n</think>", source) is None  # one reading
    assert miniature_rollouts.reading_score(None, source) is None
    # the same reading written as shapes side by side scores the same; a line that names no shape, nothing
    side_by_side = f"<think>\n{paired_reading(source, recoloured)}\n</think>\n{{}}"
    assert miniature_rollouts.reading_score(side_by_side, source) == miniature_rollouts.reading_score(
        critiques[1], source
    )
    assert miniature_rollouts.reading_score(side_by_side, source) < 0
    assert miniature_rollouts.reading_score("<think>\na blue circle -> none\n</think>", source) is None
    assert json.loads((tmp_path / "grpo" / "reward_agreement.json").read_text()) == out


def test_the_critics_reading_reaches_its_training_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs: list[miniature.MiniJob] = []
    monkeypatch.setattr(miniature, "main_miniature", lambda job, force, until: jobs.append(job) or 0)
    for flag in (["--critic-transcribes", "shapes"], ["--critic-transcribes"], []):
        assert main_job.main(["--root", str(tmp_path), *flag]) == 0
    assert [(j.critic_transcribes, j.critic_reading) for j in jobs] == [
        (True, "shapes"),
        (True, "code"),
        (False, "code"),
    ]
    configs: list[dict] = []
    monkeypatch.setattr(miniature, "fit", lambda job, step, config: configs.append(config))
    for folder in ("data", "critic"):
        (tmp_path / folder).mkdir()
    miniature.step_critic(jobs[0])
    data = configs[0]["data"]["init_args"]
    assert data["transcribe_first"] is True and data["reading"] == "shapes"
    assert data["seed"] == configs[0]["seed_everything"] == 0
    assert main_job.main(["--root", str(tmp_path), "--critic-seed", "3"]) == 0  # another training of the critic
    miniature.step_critic(jobs[-1])
    assert configs[-1]["data"]["init_args"]["seed"] == configs[-1]["seed_everything"] == 3


def test_a_critic_of_another_size_is_fine_tuned_from_a_base_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs: list[miniature.MiniJob] = []
    monkeypatch.setattr(miniature, "main_miniature", lambda job, force, until: jobs.append(job) or 0)
    assert main_job.main(["--root", str(tmp_path), "--critic-size", "small_deep"]) == 0
    job = jobs[0]
    trained: list[tuple[str, str, str]] = []

    def fit(job: miniature.MiniJob, step: str, config: dict) -> None:
        init = config["model"]["init_args"]
        trained.append((step, init["loader"]["name_or_path"], init["model_dir"]))
        Path(init["model_dir"]).mkdir(parents=True)
        (Path(init["model_dir"]) / "config.json").write_text("{}")

    monkeypatch.setattr(miniature, "fit", fit)
    built: list[tuple[Path, str]] = []
    monkeypatch.setattr(miniature, "random_model", lambda job, out, size: built.append((out, size)) or out)
    for folder in ("data", "critic", "critic_base"):
        (tmp_path / folder).mkdir()
    miniature.step_critic_base(job)
    miniature.step_critic(job)
    assert [size for _, size in built] == ["small_deep"]
    (base_step, start, base_out), (critic_step, critic_start, _) = trained
    assert (base_step, start) == ("critic_base", str(built[0][0]))
    assert critic_step == "critic" and critic_start == base_out == str(job.critic_base) != str(job.base)
    assert miniature.MiniJob(root=tmp_path).critic_base == miniature.MiniJob(root=tmp_path).base


def test_summary_and_report_from_finished_steps(tmp_path: Path) -> None:
    job = miniature.MiniJob(
        root=tmp_path, critic_seeds=(0, 1), baseline_seeds=(0,), exact_seeds=(0,), grpo_steps=24, grpo_eval_every=12
    )
    for name, f1 in (("critic", 0.5), ("empty", 0.1), ("pixel_majority", 0.3)):
        folder = job.dir("critic_eval") / name
        folder.mkdir(parents=True)
        overall = {
            "pairs": 10,
            "f1_hard": f1,
            "f1_soft": f1 + 0.05,
            "severity_pearson": 0.4,
            "false_alarm_rate": f1,
            "clean_pairs": 4,
        }
        (folder / "summary.json").write_text(json.dumps({"overall": overall}))
    for name, f1 in (("critic", 0.02), ("empty", 0.0), ("pixel_majority", 0.1)):  # the base's own answers
        folder = job.dir("critic_eval") / "answers" / name
        folder.mkdir(parents=True)
        overall = {"pairs": 8, "f1_hard": f1, "f1_soft": f1, "severity_pearson": 0.1}
        (folder / "summary.json").write_text(json.dumps({"overall": overall}))
    rows = [{"pred_json": {"errors": []}}] * 9 + [{"pred_json": None}]
    (job.dir("critic_eval") / "critic" / "predictions.json").write_text(json.dumps(rows))
    (job.dir("critic_eval") / "grounding.json").write_text(json.dumps({"pairs": 10, "real": 0.1, "blind": 0.3,
                                                                        "gap": 0.2}))  # fmt: skip
    ssim = {
        "sft_s0": 0.8,
        "grpo_critic_s0": 0.9,
        "grpo_critic_s1": 0.7,
        "grpo_baseline_s0": 0.85,
        "grpo_exact_s0": 0.95,
    }
    for name, value in ssim.items():
        folder = job.dir("policy_eval") / name
        folder.mkdir(parents=True)
        svg = {"samples": 4, "execution_rate": 0.5, "ssim": value}
        (folder / "summary.json").write_text(json.dumps({"summary": {"svg": svg}, "config": {}}))
    for name, value in (("grpo_critic_s0", 0.6), ("grpo_critic_s1", 1.0)):  # each critic run as it was at step 12
        (job.dir("grpo") / name / "snapshots" / "step_12").mkdir(parents=True)
        folder = job.dir("policy_eval") / name / "step_12"
        folder.mkdir(parents=True)
        svg = {"samples": 4, "execution_rate": 1.0, "ssim": value}
        (folder / "summary.json").write_text(json.dumps({"summary": {"svg": svg}, "config": {}}))
    agreement = {"grpo_critic_s0": {side: {"groups": 4, "rollouts": 24, "pairs": 30, "agreement": a,
                                           "tied_groups": t, "mixed_groups": 0.75}
                                     for side, a, t in (("reward", 0.55, 0.8), ("pixel", 0.9, 0.0))}}  # fmt: skip
    (job.dir("grpo") / "reward_agreement.json").write_text(json.dumps(agreement))
    summary = miniature.build_summary(job)
    assert summary["reward_agreement"] == agreement
    assert summary["critic"]["heldout"] == {"pairs": 10, "parse_rate": 0.9, "f1_hard": 0.5, "f1_soft": 0.55,
                                            "severity_pearson": 0.4, "false_alarm_rate": 0.5, "clean_pairs": 4}  # fmt: skip
    assert summary["critic"]["baselines"]["pixel_majority"] == {
        "f1_hard": 0.3, "f1_soft": pytest.approx(0.35), "severity_pearson": 0.4, "false_alarm_rate": 0.3
    }  # fmt: skip
    critic = summary["policy"]["grpo_critic"]["svg"]
    assert critic["seeds"] == pytest.approx([0.45, 0.35])  # unrendered answers score 0: SSIM x render rate
    assert critic["score"] == pytest.approx(0.4) and critic["render_rate"] == 0.5
    assert set(summary["policy"]) == {"sft", "grpo_critic", "grpo_baseline", "grpo_exact"}
    curve = [(p["step"], p["score"], p["seeds"]) for p in critic["curve"]]
    assert curve == [(0, 0.4, [0.4]), (12, 0.8, [0.6, 1.0]), (24, pytest.approx(0.4), pytest.approx([0.45, 0.35]))]
    assert [p["step"] for p in summary["policy"]["grpo_baseline"]["svg"]["curve"]] == [0, 24]  # no snapshots
    answers = summary["critic"]["policy_answers"]
    assert answers["heldout"]["pairs"] == 8 and answers["baselines"]["pixel_majority"]["f1_hard"] == 0.1
    report = miniature.step_report(job)
    assert report.exists() and "Visual-ERM in miniature" in report.read_text()
    text = report.read_text()
    assert "no true discrepancy the critic names one in 0.50 of them (pixel_majority: 0.3" in text
    assert "<td>0.500 of 4</td>" in text and "<td>0.300 of 4</td>" in text
    assert "own answers" in text and "What each reward told GRPO" in text and "exact critique" in text
    assert (
        "ordered two of a group as their true errors do 0.550 of the time, pixel MSE on the same rollouts 0.900" in text
    )
    assert json.loads((tmp_path / "summary.json").read_text())["policy"]["sft"]["svg"]["seeds"] == [0.4]
    assert summary["model_sizes"] == {"policy": "small", "critic": "small"} and "a critic from that base" in text
    deeper = replace(job, critic_size="small_deep")
    assert miniature.build_summary(deeper)["model_sizes"] == {"policy": "small", "critic": "small_deep"}
    assert "the small_deep one the base of the critic" in miniature.step_report(deeper).read_text()
    assert (tmp_path / "report" / "grpo_score.png").exists() and "Held-out policy score against GRPO steps" in text

    # Beside another run (make demo beside make demo-long): its verdicts, and its curves drawn with this run's.
    other = tmp_path / "long"
    compared = replace(job, compare=other)
    assert "No finished run there yet" in miniature.step_report(compared).read_text()
    (other / "critic" / "csv").mkdir(parents=True)
    (other / "critic" / "csv" / "metrics.csv").write_text("step,val/f1,train/loss\n99,0.25,\n100,,0.5\n199,0.75,\n")
    (other / "summary.json").write_text(json.dumps(summary))
    text = miniature.step_report(compared).read_text()
    assert "Beside it: the run in" in text and text.count("GRPO with the critic against SFT alone") == 2
    _, drawn = miniature.compared_run(other)
    assert drawn["long: critic val/f1"] == [(99.0, 0.25), (199.0, 0.75)]
    assert drawn["long: held-out score grpo_critic"] == [(0.0, 0.4), (12.0, 0.8), (24.0, pytest.approx(0.4))]
    (other / "summary.json").write_text(json.dumps({"runs": []}))
    with pytest.raises(main_job.StepError, match="not a miniature run's summary"):
        miniature.step_report(compared)


@pytest.mark.slow
def test_the_miniature_runs_end_to_end_at_toy_sizes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--root", str(tmp_path / "mini"), "--pairs", "80", "--base-steps", "4", "--critic-steps", "4",
            "--grpo-steps", "2", "--grpo-eval-every", "1", "--critic-seeds", "1", "--eval-references", "2", "--rl-references", "4",
            "--answer-references", "4", "--exact-seeds", "1", "--critic-transcribes", "shapes",
            "--no-progress"]  # fmt: skip
    assert main_job.main(args) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "mini" / "summary.json").read_text())
    assert set(summary["critic"]["baselines"]) == {"empty", "pixel_majority"}
    assert set(summary["policy"]) == {"sft", "grpo_critic", "grpo_baseline", "grpo_exact"}
    assert [p["step"] for p in summary["policy"]["grpo_critic"]["svg"]["curve"]] == [0, 1, 2]  # step 1: a snapshot
    assert not list((tmp_path / "mini" / "policy_eval").rglob("*_merged"))  # scored snapshots leave no full model
    assert "report:" in out and (tmp_path / "mini" / "report" / "index.html").exists()


def test_the_critique_given_true_readings_is_scored_on_the_logged_rollouts(
    mini_data: Path, tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cairosvg
    import critic_given_readings as given

    reference = main_job.read_jsonl(mini_data / "train.jsonl")[0]
    source = reference["reference_source"]
    colour = source.split('fill="', 1)[1][:7]
    recoloured = source.replace(colour, next(c for c in MINI_COLOURS if c != colour))
    (tmp_path / "rl.jsonl").write_text(json.dumps(reference) + "\n")
    step_dir = tmp_path / "run" / "rollout_samples" / "step000000-rank0"
    step_dir.mkdir(parents=True)
    (step_dir / "g0-reference.png").write_bytes((mini_data / reference["reference_image"]).read_bytes())
    (step_dir / "g0-0.png").write_bytes((mini_data / reference["reference_image"]).read_bytes())
    (step_dir / "g0-1.png").write_bytes(cairosvg.svg2png(bytestring=recoloured.encode()))
    rows = [{"prompt_id": reference["id"], "group": 0, "rollout": j, "domain": "svg", "completion": code,
             "rendered": ok, "reward": reward}
            for j, (code, ok, reward) in enumerate([(source, True, 1.0), (recoloured, True, 1.5), ("x", False, 0.0)])]  # fmt: skip
    (step_dir / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # the tiny random critic writes no critique: every rendered rollout gets the lowest score, a tie
    out = given.given_readings(tmp_path / "run", tmp_path / "rl.jsonl", tiny_model_dir, 4, "code", "short", 128)
    assert out["given_true_readings"]["pairs"] == 1 and out["given_true_readings"]["agreement"] == 0.5
    assert out["own"]["agreement"] == 0.0  # the logged reward preferred the recoloured rollout
    # a critic that compares the true readings exactly orders them as the truth does
    seen: list[tuple[str | None, str | None]] = []

    def exact(model, processor, pair, reading, instruction, max_side):  # type: ignore[no-untyped-def]
        seen.append((pair.reference_source, pair.candidate_source))
        return -float(pair.critique.severity_sum)

    monkeypatch.setattr(given, "critique_score", exact)
    out = given.given_readings(tmp_path / "run", tmp_path / "rl.jsonl", tiny_model_dir, 4, "code", "short", 128)
    assert out["given_true_readings"]["agreement"] == 1.0
    assert seen == [(source, source.strip()), (source, recoloured.strip())]
    (tmp_path / "empty").mkdir()
    assert given.main(["--run", str(tmp_path / "empty"), "--references", "x", "--critic", "y"]) == 2  # nothing logged
    run = ["--run", str(tmp_path / "run"), "--references", str(tmp_path / "rl.jsonl")]
    assert given.main([*run, "--critic", str(tmp_path)]) == 2  # no model there
    assert given.main([*run, "--critic", str(tiny_model_dir), "--groups", "0"]) == 2
