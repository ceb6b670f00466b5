"""The main job: the whole Visual-ERM story in one command, each step in its own folder under ``--root``.

    python tools/main_job.py                       # the paper in miniature on the CPU (what `make demo` runs)
    python tools/main_job.py --quick               # every stage connected on the tiny random model, minutes
    python tools/main_job.py --quick --root runs/quick --force critic    # redo one step (and everything after it)

By default this runs the miniature reproduction (``tools/miniature.py``: a small Qwen3-VL trained on a CPU into a
critic that generalizes, and GRPO with it against a pixel reward). ``--quick``, ``--base-model`` or
``--critic-model`` run the pipeline below instead, which is also how the 8B models run on GPUs.

Steps, in order (``<root>/<step>/``):

1. ``model``  — the tiny random-weight Qwen3-VL (skipped when ``--base-model`` names a real checkpoint);
2. ``data``   — labelled (reference, candidate) pairs from ``tools/synthesize.py``, plus ``critic_train.jsonl``: the
   few train pairs the critic learns (a handful, so a CPU memorizes them in minutes), and ``showcase.jsonl``: one
   reference per domain that the policy is evaluated and refined on;
3. ``critic`` — reward-model SFT through the real LightningCLI (``configs/reward_sft/tiny_overfit.yaml`` by default),
   then the adapter merged into a plain checkpoint (``critic/merged``) every later step loads as the judge;
4. ``bench``  — the judge benchmark (F1h, F1s, Sc) of the trained critic on the synthesized bench split
   (``tools/bench_judge.py``); 5. ``probes`` — reward-hacking probes with it (``tools/probe_rewards.py``);
6. ``grpo``   — a few GRPO steps with the trained critic as the reward (``configs/grpo/debug.yaml`` by default),
   adapter merged into ``grpo/merged``; 7. ``eval`` — the policy evaluated (``tools/eval_policy.py``);
8. ``refine`` — reflection & revision: the policy revises given the critic's critiques (``tools/refine.py``);
9. ``report`` — the static HTML report (``tools/report.py``), whose path is printed at the end.

A step whose outputs exist is skipped, so a rerun after a failure (or a kill) continues where it stopped; ``--force
STEP`` reruns that step and every step after it (``--force all``: everything). A failing step stops the job with
``main job failed at step '<step>': <reason>``. Training runs in this process through ``src.cli.main`` (the same
parser as ``python -m src fit``); tools with their own process model (render pools, progress bars) run as
subprocesses of this interpreter. Every training step logs to TensorBoard (``tensorboard --logdir <root>``) and to
CSV (``<step>/csv/metrics.csv``, which the report reads).

With a tiny model the numbers mean nothing except that the critic learned its training pairs (its ``csv`` metrics):
this job shows that every stage connects. The same job runs 8B configs on a GPU; see the README.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a script from a checkout, before `pip install -e .`
    sys.path.insert(0, str(ROOT))

STEPS = ("model", "data", "critic", "bench", "probes", "grpo", "eval", "refine", "report")
TINY_JUDGE_ENGINE = "src.testing.engines.tiny_judge_engine"


class StepError(RuntimeError):
    """A step could not finish; the message names the step and the reason."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"main job failed at step '{step}': {reason}")
        self.step, self.reason = step, reason


@dataclass
class MainJob:
    """Where every step reads and writes, and the settings the steps share."""

    root: Path
    critic_config: Path = ROOT / "configs" / "reward_sft" / "tiny_overfit.yaml"
    # one GRPO YAML, or a base and the files composed onto it (as repeated ``--config`` would: later keys win)
    grpo_config: Path | Sequence[Path] = ROOT / "configs" / "grpo" / "debug.yaml"
    base_model: str | None = None  # None: the tiny random Qwen3-VL built in <root>/model
    critic_model: str | None = None  # a finished critic (e.g. internlm/Visual-ERM): the critic step only links it
    pairs_per_domain: int = 20  # 5 % of references go to the bench split: 20 a domain leaves a few bench pairs
    critic_pairs_per_domain: int = 2  # the tiny critic memorizes these (tiny_overfit's 6 pairs); 0: the train split
    judge_engine: Path | None = None  # engine YAML of the critic (e.g. OpenAIEngine to `vllm serve`); None: in process
    policy_engine: Path | None = None  # engine YAML of the trained policy for eval/refine; None: in process
    probe_references: int = 1
    refine_rounds: int = 2
    # policy answers in eval/refine: the tiny policy writes noise (64 keeps it short); a real base gets the public
    # GRPO script's response budget (8192) unless told otherwise (``--max-new-tokens``)
    max_new_tokens: int | None = None
    judge_max_new_tokens: int = 320  # the longest tiny critique is ~160 tokens; a --judge-profile sets its own
    judge_profile: Path | None = None  # the critic's whole protocol (tools/build_prompt_profile.py), for every step
    render_mode: str = "project"  # GRPO rollouts' renders; ``released``: the public reward's (``RenderJob.mode``)

    @property
    def policy_max_new_tokens(self) -> int:
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        return 8192 if self.base_model is not None else 64

    workers: int = 2
    progress: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)

    def dir(self, step: str) -> Path:
        return self.root / step

    # -- paths later steps read ---------------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return self.base_model or str(self.dir("model") / "tiny-qwen3-vl")

    @property
    def critic(self) -> str:
        return self.critic_model or str(self.dir("critic") / "merged")

    @property
    def policy(self) -> Path:
        return self.dir("grpo") / "merged"

    @property
    def merge_dtype(self) -> str:
        import torch  # noqa: PLC0415  (torch only when a step needs it: the CLI's --help stays instant)

        # bf16 halves an 8B checkpoint on a GPU; the CPU path (the tiny model) is float32 throughout
        return "bfloat16" if self.base_model is not None and torch.cuda.is_available() else "float32"


# -- helpers ------------------------------------------------------------------------------------------------------
def run_tool(job: MainJob, step: str, script: str, *args: str | Path) -> None:
    """Run ``tools/<script>`` with this interpreter; a non-zero exit is the step's failure, with the tool's last line."""
    cmd = [sys.executable, str(ROOT / "tools" / script), *map(str, args)]
    print(f"[{step}] $ {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    if proc.stderr:
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        last = next((line for line in reversed(proc.stderr.splitlines()) if line.strip()), "no message")
        raise StepError(step, f"{script} exited with status {proc.returncode}: {last.strip()}")


def fit(job: MainJob, step: str, config: dict[str, Any]) -> None:
    """``python -m src fit`` in process on a YAML this job derived from a stage config (saved in the step folder)."""
    from src.cli import main as cli_main

    path = job.dir(step) / "job_config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    print(f"[{step}] $ python -m src fit --config {path}", flush=True)
    try:
        cli = cli_main(["fit", "--config", str(path)])
    except SystemExit as exit_:  # jsonargparse reports a bad config by exiting
        if exit_.code not in (0, None):
            raise StepError(
                step, f"the LightningCLI refused {path} (status {exit_.code}; its message is above)"
            ) from None
        return
    # Lightning ends fit quietly on SIGTERM: without this the step would be marked done with a half-trained model.
    if getattr(cli.trainer, "received_sigterm", False):
        raise StepError(step, "training stopped by SIGTERM before its last step; rerun the job to train it again")


def with_loggers(config: dict[str, Any], step_dir: Path, progress: bool) -> dict[str, Any]:
    """TensorBoard for people and CSV for the report, both in the step folder; the stage's root dir moved there."""
    trainer = config.setdefault("trainer", {})
    trainer["default_root_dir"] = str(step_dir)
    trainer["enable_progress_bar"] = progress
    trainer["logger"] = [
        {
            "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
            "init_args": {"save_dir": str(step_dir), "name": "tensorboard", "version": ""},
        },
        {
            "class_path": "lightning.pytorch.loggers.CSVLogger",
            "init_args": {"save_dir": str(step_dir), "name": "csv", "version": ""},
        },
    ]
    return config


def judge_yaml(job: MainJob, path: Path) -> Path:
    """A ``VisualERMJudge`` on the critic in process (greedy, the critic's own budget) for the tools' ``--judge``."""
    engine = (
        yaml.safe_load(job.judge_engine.read_text())
        if job.judge_engine is not None
        else {"class_path": TINY_JUDGE_ENGINE, "init_args": {"name_or_path": job.critic}}
    )
    judge = {
        "class_path": "src.reward.judge.VisualERMJudge",
        "init_args": {"engine": engine, **judge_protocol(job)},
    }
    path.write_text(yaml.safe_dump(judge, sort_keys=False))
    return path


def judge_protocol(job: MainJob) -> dict[str, Any]:
    """How every step asks the critic: the given profile (prompt, sampling, attempts, reward: the released model's
    own when built from its code), else greedy within the critic's budget and one attempt."""
    if job.judge_profile is not None:
        return {"profile": str(job.judge_profile)}
    return {"profile": {"sampling": {"temperature": 0.0, "max_new_tokens": job.judge_max_new_tokens}}, "retries": 0}


def dry_run(job: MainJob) -> dict[str, Any]:
    """What the job's steps would send, without a model: the judge's requests for one pair a domain (every attempt
    its protocol makes after an unreadable answer) and the policy's first request a domain (eval and refine budgets).

    The images are stand-ins the size of a typical chart render; the profile decides how they are capped and encoded.
    """
    from dataclasses import replace

    from PIL import Image, ImageDraw

    from src.data.prompts import build_policy_messages
    from src.engines.dry_run import DryRunEngine, RecordedCall, describe_call
    from src.engines.engine import ChatRequest, SamplingSettings
    from src.render.image import encode_png
    from src.render.job import DOMAINS, RenderResult
    from src.reward.critic_profile import builtin_profile
    from src.reward.judge import VisualERMJudge
    from src.reward.pair import RewardPair

    def stand_in(shift: int) -> Image.Image:
        image = Image.new("RGB", (1600, 1000), "white")
        ImageDraw.Draw(image).rectangle((200 + shift, 200, 900 + shift, 800), fill=(31, 119, 180))
        return image

    reference = stand_in(0)
    judged = RenderResult(ok=True, png=encode_png(stand_in(60)))
    greedy = SamplingSettings(temperature=0.0, max_new_tokens=job.policy_max_new_tokens)
    protocol = judge_protocol(job)
    profile = protocol["profile"]
    if isinstance(profile, dict):
        profile = replace(builtin_profile(), sampling=SamplingSettings(**profile["sampling"]))
    engine = DryRunEngine()
    judge = VisualERMJudge(engine, profile=profile, retries=protocol.get("retries", 2), image_transport="encoded")
    out: dict[str, Any] = {"judge": {}, "policy": {}}
    for domain in DOMAINS:
        engine.calls.clear()
        judge.judge([RewardPair(reference, judged, domain)])
        out["judge"][domain] = {"attempts": len(engine.calls), "request": describe_call(engine.calls[0])}
        request = ChatRequest(build_policy_messages(domain, reference))
        out["policy"][domain] = {"eval_and_refine": describe_call(RecordedCall(request, 1, greedy))}
    return out


def merge(job: MainJob, step: str, adapter: Path, out: Path) -> None:
    """The trained adapter folded into its base: one checkpoint any engine (HF, ``vllm serve``) loads."""
    from src.models.loading import merge_adapter

    if not (adapter / "adapter_config.json").exists():
        raise StepError(step, f"training wrote no adapter at {adapter}")
    merge_adapter(job.base, adapter, out, dtype=job.merge_dtype)  # type: ignore[arg-type]


def trained_elsewhere(step_dir: Path) -> bool:
    """A finished adapter already in the step folder (e.g. from a multi-node run under torchrun): only merge it.

    Training writes the adapter at its very end, so its presence means the run finished.
    """
    if (step_dir / "adapter" / "adapter_config.json").exists():
        print(f"[{step_dir.name}] {step_dir / 'adapter'} exists: training skipped, merging it", flush=True)
        return True
    return False


def composed_config(paths: Path | Sequence[Path]) -> dict[str, Any]:
    """The YAMLs merged as LightningCLI merges repeated ``--config`` files: mappings key by key, anything else (lists
    included) replaced whole by the later file."""

    def merge(base: Any, top: Any) -> Any:
        if isinstance(base, dict) and isinstance(top, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in top.items()}}
        return top

    merged: dict[str, Any] = {}
    for path in [paths] if isinstance(paths, Path) else paths:
        merged = merge(merged, yaml.safe_load(Path(path).read_text()) or {})
    return merged


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- steps --------------------------------------------------------------------------------------------------------
def step_model(job: MainJob) -> Path:
    """The tiny random Qwen3-VL every stage starts from (no download)."""
    from src.models.tiny import build_tiny_qwen3_vl

    out = job.dir("model") / "tiny-qwen3-vl"
    if job.base_model is None:
        build_tiny_qwen3_vl(out)
    return out


def step_data(job: MainJob) -> Path:
    """Synthesized pairs (train / val / bench) and the critic's few training pairs."""
    out = job.dir("data")
    run_tool(
        job, "data", "synthesize.py", "--n", str(job.pairs_per_domain), "--out", out,
        "--candidates-per-reference", "1", "--workers", str(job.workers), *(() if job.progress else ("--no-progress",)),
    )  # fmt: skip
    train = read_jsonl(out / "train.jsonl")
    picked: list[dict[str, Any]] = []
    for domain in ("chart", "table", "svg"):
        picked += [row for row in train if row.get("domain") == domain][: job.critic_pairs_per_domain or None]
    if not picked:
        raise StepError("data", f"{out / 'train.jsonl'} has no pairs")
    if not read_jsonl(out / "bench.jsonl"):
        raise StepError("data", f"no bench pairs in {out}: raise --pairs-per-domain (5 % of references are bench)")
    (out / "critic_train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in picked))
    # the references the policy is evaluated and refined on: the first train pair of each domain
    showcase = [next((row for row in train if row.get("domain") == d), None) for d in ("chart", "table", "svg")]
    if None in showcase:
        raise StepError("data", f"{out / 'train.jsonl'} lacks a domain (chart, table, svg each need a train pair)")
    (out / "showcase.jsonl").write_text("".join(json.dumps(row) + "\n" for row in showcase))
    return out


def step_critic(job: MainJob) -> Path:
    """Reward-model SFT through the LightningCLI, then one merged checkpoint the judge loads."""
    out = job.dir("critic")
    if job.critic_model is not None:  # a released critic: nothing to train
        (out / "merged.txt").write_text(job.critic_model + "\n")
        return out
    if trained_elsewhere(out):
        merge(job, "critic", out / "adapter", out / "merged")
        return out
    config = with_loggers(yaml.safe_load(job.critic_config.read_text()), out, job.progress)
    init = config["model"]["init_args"]
    init["loader"]["name_or_path"] = job.base
    init["adapter_dir"] = str(out / "adapter")
    data = config["data"]["init_args"]
    data.update(data_dir=str(job.dir("data")), synthesize_if_missing=0)
    if job.critic_pairs_per_domain > 0:
        data["train_split"] = "critic_train"
        if data.get("val_split") is not None:
            data["val_split"] = "critic_train"  # the critic is shown to have learned the pairs it trained on
    fit(job, "critic", config)
    merge(job, "critic", out / "adapter", out / "merged")
    return out


def step_bench(job: MainJob) -> Path:
    """The critic on the bench split: F1h / F1s / Sc per domain, as the public evaluator aggregates them."""
    out = job.dir("bench")
    judge = judge_yaml(job, out / "judge.yaml")
    data = job.dir("data")
    run_tool(
        job, "bench", "bench_judge.py", "--bench", data / "bench.jsonl", "--image-root", data, "--judge", judge,
        "--out", out, "--batch-size", "4", *(() if job.progress else ("--no-progress",)),
    )  # fmt: skip
    return out


def step_probes(job: MainJob) -> Path:
    """How often the critic (and pixel rewards) rank a known-better candidate above a known-worse one."""
    out = job.dir("probes")
    run_tool(
        job, "probes", "probe_rewards.py", "--references", str(job.probe_references), "--domains", "chart", "table",
        "svg", "--reward", f"critic={judge_yaml(job, out / 'judge.yaml')}", "--workers", str(job.workers), "--out", out,
    )  # fmt: skip
    return out


def step_grpo(job: MainJob) -> Path:
    """A few GRPO steps on the synthesized references with the trained critic as the judge."""
    out = job.dir("grpo")
    if trained_elsewhere(out):
        merge(job, "grpo", out / "adapter", job.policy)
        return out
    config = with_loggers(composed_config(job.grpo_config), out, job.progress)
    init = config["model"]["init_args"]
    init["loader"]["name_or_path"] = job.base
    init["adapter_dir"] = str(out / "adapter")
    config["data"]["init_args"].update(data_dir=str(job.dir("data")), synthesize_if_missing=0)
    rollouts = [*(config["trainer"].get("callbacks") or []), *([config["rollout"]] if config.get("rollout") else [])]
    for callback in rollouts:
        reward = callback.get("init_args", {}).get("reward", {}).get("init_args", {})
        engine = reward.get("engine", {})
        if engine.get("class_path") == TINY_JUDGE_ENGINE:  # an in-process judge: make it the critic just trained
            engine["init_args"]["name_or_path"] = job.critic
            if job.judge_profile is None:
                sampling = {"temperature": 0.0, "max_new_tokens": job.judge_max_new_tokens}
                reward.setdefault("profile", {"sampling": sampling})  # the tiny critic's budget, as in bench
        if job.judge_profile is not None and "engine" in reward:  # a judge: asked as every other step asks it
            reward["profile"] = str(job.judge_profile)
            reward.pop("retries", None)
        if str(callback.get("class_path", "")).endswith("RolloutCallback"):
            callback.setdefault("init_args", {})["render_mode"] = job.render_mode
    fit(job, "grpo", config)
    merge(job, "grpo", out / "adapter", job.policy)
    return out


def policy_args(job: MainJob) -> list[str]:
    return ["--max-new-tokens", str(job.policy_max_new_tokens), "--workers", str(job.workers)] + (
        [] if job.progress else ["--no-progress"]
    )


def step_eval(job: MainJob) -> Path:
    """The trained policy scored per domain (execution rate, ChartMimic low-level, TEDS, SSIM) and by the critic."""
    out = job.dir("eval")
    judge = judge_yaml(job, out / "judge.yaml")
    policy = ("--policy", job.policy_engine) if job.policy_engine is not None else ("--model", job.policy)
    run_tool(
        job, "eval", "eval_policy.py", *policy, "--data-dir", job.dir("data"), "--split", "showcase",
        "--judge", judge, "--out", out, *policy_args(job),
    )  # fmt: skip
    return out


def step_refine(job: MainJob) -> Path:
    """Reflection & revision: draft, render, critique, revise, for a few references; the best version is kept."""
    out = job.dir("refine")
    out.mkdir(parents=True, exist_ok=True)
    policy = job.policy_engine or out / "policy.yaml"
    if job.policy_engine is None:  # the merged policy in process
        engine = {"class_path": TINY_JUDGE_ENGINE, "init_args": {"name_or_path": str(job.policy)}}
        policy.write_text(yaml.safe_dump(engine))
    run_tool(
        job, "refine", "refine.py", "--prompts", job.dir("data") / "showcase.jsonl", "--policy", policy,
        "--judge", judge_yaml(job, out / "judge.yaml"), "--rounds", str(job.refine_rounds),
        "--out", out, *policy_args(job),
    )  # fmt: skip
    return out


def step_report(job: MainJob) -> Path:
    """The static HTML report of the policy evaluation, the GRPO run and the probes."""
    out = job.dir("report") / "index.html"
    run_tool(
        job, "report", "report.py", "--eval", job.dir("eval"), "--run", job.dir("grpo"),
        "--probes", job.dir("probes") / "probes.json", "--out", out, "--title", "Visual-ERM main job",
    )  # fmt: skip
    return out


# What marks a step done: written last by the step, so a killed step is redone.
STEP_FUNCTIONS: dict[str, Callable[[MainJob], Path]] = {
    "model": step_model,
    "data": step_data,
    "critic": step_critic,
    "bench": step_bench,
    "probes": step_probes,
    "grpo": step_grpo,
    "eval": step_eval,
    "refine": step_refine,
    "report": step_report,
}


def done_marker(job: MainJob, step: str) -> Path:
    return job.dir(step) / "DONE.json"


def run(
    job: MainJob,
    force: str | None = None,
    until: str | None = None,
    steps: dict[str, Callable[[MainJob], Path]] | None = None,
) -> Path:
    """Run every step not yet done (``force``: that step and all after it again; ``until``: stop after that step)."""
    steps = steps if steps is not None else STEP_FUNCTIONS
    names = list(steps)
    for asked in (force, until):
        if asked is not None and asked != "all" and asked not in names:
            raise StepError(asked, f"no such step; steps are {', '.join(names)}")
    if until is not None and until != "all":
        names = names[: names.index(until) + 1]
    first_forced = 0 if force == "all" else names.index(force) if force is not None else len(names)
    job.root.mkdir(parents=True, exist_ok=True)
    result = job.root
    started = time.perf_counter()
    for index, name in enumerate(names):
        marker = done_marker(job, name)
        if marker.exists() and index < first_forced:
            print(f"[{name}] done already ({marker.parent}); skipped (--force {name} reruns it)", flush=True)
            result = Path(json.loads(marker.read_text())["output"])
            continue
        marker.unlink(missing_ok=True)
        job.dir(name).mkdir(parents=True, exist_ok=True)
        print(f"[{name}] {next(iter((steps[name].__doc__ or '').strip().splitlines()), '')}", flush=True)
        step_started = time.perf_counter()
        try:
            result = steps[name](job)
        except StepError:
            raise
        except Exception as error:  # any failure inside a step is reported as that step's
            raise StepError(name, f"{type(error).__name__}: {error}") from error
        seconds = time.perf_counter() - step_started
        marker.write_text(json.dumps({"output": str(result), "seconds": round(seconds, 1)}) + "\n")
        print(f"[{name}] finished in {seconds:.0f} s -> {result}", flush=True)
    print(f"main job finished in {time.perf_counter() - started:.0f} s", flush=True)
    return result


def summarize(job: MainJob, report: Path) -> None:
    """The figures a person looks at first, and where everything is."""
    metrics = job.dir("critic") / "csv" / "metrics.csv"
    if metrics.exists():
        with metrics.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        loss = [row["train/loss"] for row in rows if row.get("train/loss")]
        last = {k: v for row in rows for k, v in row.items() if v and k.startswith("val/")}
        if loss:
            print(f"critic: train/loss {float(loss[0]):.3f} -> {float(loss[-1]):.3f}", end="")
            print("".join(f", {k} {float(v):.3f}" for k, v in sorted(last.items()) if k != "val/generated"))
    bench = job.dir("bench") / "summary.json"
    if bench.exists():
        overall = json.loads(bench.read_text()).get("overall", {})
        print(
            "judge bench (bench split): "
            + ", ".join(f"{k} {overall.get(k)}" for k in ("pairs", "f1_hard", "f1_soft", "severity_pearson"))
        )
    print(f"TensorBoard: tensorboard --logdir {job.root}")
    print(f"report: {report.resolve()}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="one folder per step below it (default: runs/main, runs/quick)")
    parser.add_argument("--quick", action="store_true", help="every stage on the tiny model instead of the miniature")
    parser.add_argument("--force", help="rerun this step and every step after it ('all': everything)")
    parser.add_argument("--until", help="stop after this step (e.g. before a multi-node GRPO run)")
    mini = parser.add_argument_group("the miniature reproduction (the default)")
    mini.add_argument("--pairs", type=int, default=1600, help="synthesized plain-shape SVG pairs")
    mini.add_argument("--base-steps", type=int, default=800, help="image -> code SFT steps")
    mini.add_argument("--critic-steps", type=int, default=2200, help="critic SFT steps")
    mini.add_argument("--grpo-steps", type=int, default=20, help="GRPO steps a run")
    mini.add_argument(
        "--grpo-eval-every",
        type=int,
        default=10,
        help="also score each GRPO run on the held-out references every this many steps (0: at the end)",
    )
    mini.add_argument("--critic-seeds", type=int, default=3, help="GRPO runs with the critic's reward")
    mini.add_argument("--baseline-seeds", type=int, default=1, help="GRPO runs with the pixel reward")
    mini.add_argument("--exact-seeds", type=int, default=0,
                      help="GRPO runs rewarded by the exact critique (a perfect critic: the upper bound)")  # fmt: skip
    mini.add_argument("--eval-references", type=int, default=120, help="held-out references each policy is scored on")
    mini.add_argument("--rl-references", type=int, default=240, help="unseen references GRPO trains on")
    mini.add_argument("--kinds", nargs="+", help="perturbation kinds of the critic's pairs (grid_edit: in-family only)")
    mini.add_argument(
        "--max-perturbations", type=int, default=2,
        help="perturbation kinds applied to a candidate at most (each kind once: grid_edit alone makes one to three edits)",
    )  # fmt: skip
    mini.add_argument("--critic-image-side", type=int, default=128, help="longest side of the critic's images (px)")
    mini.add_argument("--critic-transcribes", nargs="?", const="code", choices=("code", "shapes"),
                      help="the critic writes its reading of both images in a <think> block, then its critique: "
                           "their code (the default), or their shapes side by side (shapes)")  # fmt: skip
    mini.add_argument(
        "--answer-references", type=int, default=0, help="base answers labelled for the critic's training"
    )
    mini.add_argument(
        "--compare",
        type=Path,
        help="another miniature run (e.g. runs/long) whose verdicts and curves the report shows beside",
    )
    mini.add_argument("--critic-seed", type=int, default=0, help="the critic's sample order (another training of it)")
    mini.add_argument("--critic-size", default="small", choices=("small", "small_deep"),
                      help="the critic's model size (src.models.tiny.MODEL_SIZES); the policy stays small")  # fmt: skip
    parser.add_argument("--critic-config", type=Path, default=MainJob.critic_config, help="reward-SFT stage YAML")
    parser.add_argument(
        "--grpo-config", type=Path, nargs="+", default=[MainJob.grpo_config],
        help="GRPO stage YAML, or a base and the files composed onto it (configs/grpo/qwen3vl_8b_base.yaml ...)",
    )  # fmt: skip
    parser.add_argument("--base-model", help="HF id or directory of the base VLM (default: the tiny random one)")
    parser.add_argument("--critic-model", help="use this critic (e.g. internlm/Visual-ERM) instead of training one")
    parser.add_argument("--pairs-per-domain", type=int, default=MainJob.pairs_per_domain)
    parser.add_argument("--critic-pairs-per-domain", type=int, default=MainJob.critic_pairs_per_domain)
    parser.add_argument("--judge-engine", type=Path, help="engine YAML serving the critic (default: in process)")
    parser.add_argument("--policy-engine", type=Path, help="engine YAML serving the trained policy (eval, refine)")
    parser.add_argument("--judge-profile", type=Path, help="critic profile JSON every step asks the critic with")
    parser.add_argument(
        "--render-mode",
        choices=("project", "released"),
        default=MainJob.render_mode,
        help="how GRPO rollouts render: ours, or the public reward's (for the released critic)",
    )
    parser.add_argument("--max-new-tokens", type=int, help="policy answer budget in eval/refine (default 64; 8192 "
                        "with --base-model, the public GRPO script's)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=MainJob.workers, help="render workers")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the requests the judge and the policy would be sent, run nothing"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.quick or args.base_model or args.critic_model):
        from miniature import MiniJob, main_miniature

        mini = MiniJob(
            root=(args.root or Path("runs/main")).resolve(),
            pairs=args.pairs,
            base_steps=args.base_steps,
            critic_steps=args.critic_steps,
            grpo_steps=args.grpo_steps,
            grpo_eval_every=args.grpo_eval_every,
            critic_seeds=tuple(range(args.critic_seeds)),
            baseline_seeds=tuple(range(args.baseline_seeds)),
            exact_seeds=tuple(range(args.exact_seeds)),
            critic_transcribes=args.critic_transcribes is not None,
            critic_reading=args.critic_transcribes or "code",
            eval_references=args.eval_references,
            rl_references=args.rl_references,
            answer_references=args.answer_references,
            critic_image_side=args.critic_image_side,
            critic_size=args.critic_size,
            critic_seed=args.critic_seed,
            compare=args.compare.resolve() if args.compare else None,
            **({"kinds": tuple(args.kinds)} if args.kinds else {}),
            max_perturbations=args.max_perturbations,
            workers=args.workers,
            progress=not args.no_progress,
        )
        return main_miniature(mini, args.force, args.until)
    job = MainJob(
        root=(args.root or Path("runs/quick")).resolve(),  # tools run from the checkout, training from here
        critic_config=args.critic_config,
        grpo_config=args.grpo_config,
        base_model=args.base_model,
        critic_model=args.critic_model,
        pairs_per_domain=args.pairs_per_domain,
        critic_pairs_per_domain=args.critic_pairs_per_domain,
        judge_engine=args.judge_engine,
        policy_engine=args.policy_engine,
        judge_profile=args.judge_profile,
        render_mode=args.render_mode,
        max_new_tokens=args.max_new_tokens,
        workers=args.workers,
        progress=not args.no_progress,
    )
    if args.dry_run:
        print(json.dumps(dry_run(job), indent=2))
        return 0
    try:
        result = run(job, force=args.force, until=args.until)
    except StepError as error:
        print(error, file=sys.stderr)
        return 1
    if args.until is None or args.until == "report":
        summarize(job, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
