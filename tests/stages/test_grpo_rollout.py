"""RolloutCallback on the tiny policy with the real HFEngine and render pool: the training batch it builds, streaming,
whole groups per reward call, weight pushes (module and adapter hot-load), the check that catches a lost push, and
that every reward (reward function or judge) is scored from its own completion's render."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from src.data.prompts import build_policy_messages
from src.data.vision_to_code_datamodule import VisionToCodeDataModule
from src.engines.engine import ChatRequest, Completion, SamplingSettings, WeightUpdate
from src.engines.hf_engine import HFEngine
from src.models.loading import LoraSettings, VLMLoader, load_vlm
from src.render.pool import RenderPool
from src.reward.pair import RewardPair
from src.stages.grpo import GRPOModule, completion_logprobs
from src.stages.grpo_rollout import RolloutCallback, WeightSyncError

REPO = Path(__file__).resolve().parents[2]
SAMPLING = SamplingSettings(temperature=1.0, max_new_tokens=6)


@pytest.fixture(scope="module")
def render_pool():
    with RenderPool(workers=1, timeout_s=10) as pool:
        yield pool


@pytest.fixture(scope="module")
def policy(tiny_model_dir: Path) -> GRPOModule:
    """A GRPOModule with its LoRA model and processor loaded, outside any Trainer."""
    module = GRPOModule(
        VLMLoader(str(tiny_model_dir), dtype="float32", attn_implementation="sdpa", lora=LoraSettings(r=4, dropout=0.0))
    )
    from src.models.loading import load_vlm_processor

    module.processor = load_vlm_processor(module.loader)
    module.configure_model()
    return module


def records(k: int) -> list[dict[str, Any]]:
    images = [Image.new("RGB", (64, 48), (40 * i, 90, 200)) for i in range(k)]
    return [
        {
            "id": f"p{i}",
            "domain": "svg",
            "image": im,
            "messages": build_policy_messages("svg", im),
            "reference_code": None,
        }
        for i, im in enumerate(images)
    ]


class GroupRecordingReward:
    """Text-length reward that records which groups each call saw, when and on which thread it ran."""

    def __init__(self, sleep_s: float = 0.0) -> None:
        self.calls: list[list[str]] = []
        self.started: list[float] = []
        self.threads: list[int] = []
        self.sleep_s = sleep_s

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        self.started.append(time.perf_counter())
        self.threads.append(threading.get_ident())
        self.calls.append([str(p.group) for p in pairs])
        time.sleep(self.sleep_s)
        return [-len(p.candidate_source or "") / 10 for p in pairs]


class TimedEngine:
    """The real HFEngine, with the end time of every ``generate`` call recorded."""

    def __init__(self, engine: HFEngine) -> None:
        self.inner = engine
        self.ends: list[float] = []

    @property
    def weights_version(self) -> int:
        return self.inner.weights_version

    def generate(self, requests, n=1, sampling=None):
        out = self.inner.generate(requests, n, sampling)
        self.ends.append(time.perf_counter())
        return out

    def update_weights(self, update: WeightUpdate) -> None:
        self.inner.update_weights(update)

    def close(self) -> None:
        self.inner.close()


def test_rollout_batch_matches_what_the_engine_sampled(policy: GRPOModule, render_pool: RenderPool) -> None:
    """Labels are the engine's tokens after the prompt, and the trainer's log-probs of them equal the engine's: the
    importance weights of an exact engine are 1, which is what the correction expects."""
    engine = HFEngine(policy.vlm.eval(), policy.processor)
    reward = GroupRecordingReward()
    callback = RolloutCallback(reward=reward, render_pool=render_pool, engine=engine, n=3, sampling=SAMPLING)
    groups, timing = callback.rollout(records(2), policy)
    assert [len(g.completions) for g in groups] == [3, 3]
    assert set(timing) == {"generate", "render", "reward", "wait"}
    batch = callback.build_rollout_batch(groups, policy)
    labels = batch.labels  # [6, seq]
    assert batch.rewards.shape == (2, 3)
    for row, completion in enumerate(c for g in groups for c in g.completions):
        kept = labels[row][labels[row] != -100].tolist()
        assert kept == completion.token_ids
    with torch.no_grad():
        logprobs, _, mask = completion_logprobs(policy.vlm, batch.model_inputs, labels, SAMPLING.temperature)
    engine_lp = batch.engine_logprobs[:, 1:]
    assert torch.equal(~torch.isnan(engine_lp), mask)
    assert torch.allclose(logprobs[mask], engine_lp[mask], atol=1e-4)
    for g in groups:  # every render failed on a random policy, and says how
        assert all(not r.ok and r.error_kind in ("no_code", "invalid_input") for r in g.renders)


def test_completions_without_token_ids_are_retokenized(policy: GRPOModule, render_pool: RenderPool) -> None:
    """An OpenAI-compatible server may return text only: the text is tokenized, the turn closed when it stopped, and
    the engine log-probs are unknown (NaN: no importance weight)."""
    callback = RolloutCallback(reward=GroupRecordingReward(), render_pool=render_pool, engine=None, n=2)
    from src.stages.grpo_rollout import ScoredGroup

    record = records(1)[0]
    group = ScoredGroup(
        record, [Completion("<svg/>", "stop"), Completion("<svg", "length")], [], [1.0, 0.0], [None, None]
    )
    batch = callback.build_rollout_batch([group], policy)
    tokenizer = policy.processor.tokenizer
    stop_ids = batch.labels[0][batch.labels[0] != -100].tolist()
    length_ids = batch.labels[1][batch.labels[1] != -100].tolist()
    assert tokenizer.decode(stop_ids).startswith("<svg/>") and tokenizer.decode(stop_ids).endswith("<|im_end|>")
    assert length_ids == tokenizer("<svg", add_special_tokens=False)["input_ids"]
    assert torch.isnan(batch.engine_logprobs).all()


def test_sampled_vision_markers_do_not_break_the_forward(policy: GRPOModule, render_pool: RenderPool) -> None:
    """A policy can sample <|image_pad|> or <|vision_start|>: the training forward must not read them as images."""
    from src.stages.grpo_rollout import ScoredGroup

    config = policy.vlm.config
    marker_ids = [config.image_token_id, config.vision_start_token_id]
    callback = RolloutCallback(reward=GroupRecordingReward(), render_pool=render_pool, engine=None, n=2)
    completions = [Completion("x", "length", token_ids=[5, marker_ids[0], 7, marker_ids[1]]), Completion("y", "stop")]
    group = ScoredGroup(records(1)[0], completions, [], [1.0, 0.0], [None, None])
    batch = callback.build_rollout_batch([group], policy)
    labels, input_ids = batch.labels[0], batch.model_inputs["input_ids"][0]
    assert labels[labels != -100].tolist() == [5, *marker_ids[:1], 7, marker_ids[1]]  # still scored as sampled
    assert not torch.isin(input_ids[labels != -100], torch.tensor(marker_ids)).any()
    with torch.no_grad():
        logprobs, _, mask = completion_logprobs(policy.vlm, batch.model_inputs, batch.labels)
    assert torch.isfinite(logprobs[mask]).all()


def test_streaming_scores_while_generating_and_keeps_groups_whole(policy: GRPOModule, render_pool: RenderPool) -> None:
    engine = TimedEngine(HFEngine(policy.vlm.eval(), policy.processor))
    reward = GroupRecordingReward(sleep_s=0.2)
    callback = RolloutCallback(
        reward=reward, render_pool=render_pool, engine=engine, n=2, sampling=SAMPLING, stream_chunk_prompts=1
    )
    groups, _ = callback.rollout(records(3), policy)
    assert [g.record["id"] for g in groups] == ["p0", "p1", "p2"]
    # each reward call holds whole groups (both rollouts of a prompt), one chunk at a time (two scored at once)
    assert sorted(reward.calls) == [["p0", "p0"], ["p1", "p1"], ["p2", "p2"]]
    # the first chunk was being scored before the last chunk finished generating, on the scorer's threads
    assert reward.started[0] < engine.ends[-1]
    assert threading.get_ident() not in reward.threads

    engine.ends.clear()
    reward.calls.clear()
    reward.started.clear()
    callback.streaming = False
    callback.rollout(records(3), policy)
    assert reward.calls == [["p0", "p0", "p1", "p1", "p2", "p2"]]
    assert reward.started[0] > engine.ends[-1]
    # nothing left to overlap: scored on the training thread (torch on a second thread slows later generation)
    assert reward.threads[-1] == threading.get_ident()


class DroppingEngine(TimedEngine):
    """An engine that acknowledges weight pushes but never applies them (the silent LoRA-not-loaded failure)."""

    def __init__(self, engine: HFEngine) -> None:
        super().__init__(engine)
        self.pushes = 0

    def update_weights(self, update: WeightUpdate) -> None:
        self.pushes += 1
        if self.pushes == 1:
            self.inner.update_weights(update)


def _trainer(root: Path, callback: RolloutCallback, steps: int) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
        callbacks=[callback],
    )


def _module(model_dir: Path) -> GRPOModule:
    loader = VLMLoader(str(model_dir), dtype="float32", attn_implementation="sdpa", lora=LoraSettings(r=4, dropout=0.0))
    return GRPOModule(loader, lr=1e-2, kl_coef=0.01, max_completion_tokens=6)


def _data(shards: Path) -> VisionToCodeDataModule:
    return VisionToCodeDataModule(
        data_dir=str(shards), val_split=None, domains=["svg"], batch_size=2, num_workers=0, max_image_side=64
    )


def test_a_lost_weight_push_stops_training(tiny_model_dir: Path, pair_shards: Path, tmp_path: Path) -> None:
    module = _module(tiny_model_dir)
    base, processor = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32"))
    engine = DroppingEngine(HFEngine(base.eval(), processor))  # the first push (module sync) installs the policy
    with RenderPool(workers=1) as pool:
        callback = RolloutCallback(
            reward=GroupRecordingReward(), render_pool=pool, engine=engine, n=2, sampling=SAMPLING
        )
        callback._shutdown = lambda: None  # type: ignore[method-assign]
        with pytest.raises(WeightSyncError, match="pushed weights version 1; the engine reports 0"):
            _trainer(tmp_path, callback, steps=3).fit(module, datamodule=_data(pair_shards))
    assert engine.pushes == 2  # start-up push applied, the push after step 1 dropped and caught


def test_adapter_sync_hot_loads_the_trained_adapter(tiny_model_dir: Path, pair_shards: Path, tmp_path: Path) -> None:
    """``weight_sync: adapter`` (the server path): after each step the engine loads the saved adapter, drops the
    previous one, and generates exactly what the trained module generates."""
    base, processor = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", attn_implementation="sdpa"))
    engine = HFEngine(base.eval(), processor)
    module = _module(tiny_model_dir)
    with RenderPool(workers=1) as pool:
        reward = GroupRecordingReward()
        callback = RolloutCallback(
            reward=reward, render_pool=pool, engine=engine, n=2, sampling=SAMPLING, weight_sync="adapter"
        )
        _trainer(tmp_path, callback, steps=2).fit(module, datamodule=_data(pair_shards))
    assert engine.weights_version == 2
    assert engine.adapters == ["policy-v2"]
    assert sorted(p.name for p in (tmp_path / "policy_sync").iterdir()) == ["v0000001", "v0000002"]
    lora_b = [p for n, p in module.vlm.named_parameters() if "lora_B" in n]
    assert any((p != 0).any() for p in lora_b)
    request = [ChatRequest(build_policy_messages("svg", Image.new("RGB", (64, 48), "white")))]
    greedy = SamplingSettings(temperature=0.0, max_new_tokens=8)
    served = engine.generate(request, 1, greedy)[0][0].token_ids
    trained = HFEngine(module.vlm.eval(), module.processor).generate(request, 1, greedy)[0][0].token_ids
    assert served == trained


def test_two_processes_generate_their_own_whole_groups(tiny_model_dir: Path, pair_shards: Path, tmp_path: Path) -> None:
    """DDP on the CPU (gloo), two ranks: each rank's rollouts cover its own prompts, every group complete on one
    rank, and both ranks end on the same weights version."""
    config = yaml.safe_load((REPO / "configs" / "grpo" / "debug.yaml").read_text())
    config["model"]["init_args"]["loader"]["name_or_path"] = str(tiny_model_dir)
    rollout = config["trainer"]["callbacks"][0]["init_args"]
    rollout["reward"]["init_args"]["engine"]["init_args"]["name_or_path"] = str(tiny_model_dir)
    rollout["log_samples"] = 2  # every group of the batch
    rollout["render_pool"]["init_args"]["workers"] = 1
    config["trainer"].update(devices=2, strategy="ddp", max_steps=2, default_root_dir=str(tmp_path / "run"))
    config["data"]["init_args"].update(data_dir=str(pair_shards), domains=["svg"])
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "src", "fit", "--config", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    rows = [json.loads(line) for p in (tmp_path / "run").rglob("samples.jsonl") for line in p.read_text().splitlines()]
    by_rank: dict[tuple[int, int], set[str]] = {(s, r): set() for s in (0, 1) for r in (0, 1)}
    per_group: dict[tuple[int, str], list[dict]] = {}
    for row in rows:
        by_rank[row["step"], row["rank"]].add(row["prompt_id"])
        per_group.setdefault((row["step"], row["prompt_id"]), []).append(row)
    for step in (0, 1):  # each step, the two ranks worked on different prompts
        assert by_rank[step, 0] and by_rank[step, 1] and not by_rank[step, 0] & by_rank[step, 1]
    for group in per_group.values():
        assert len(group) == 4 and len({r["rank"] for r in group}) == 1  # n = 4, all on one rank
    assert {r["weights_version"] for r in rows if r["step"] == 1} == {1}


def test_every_generate_call_gets_its_own_seed(policy: GRPOModule, render_pool: RenderPool) -> None:
    """Same prompt, two steps: different samples (an engine that forks the RNG per call would otherwise repeat its
    noise every step), yet a callback restored from the first one's state draws the same ones again (resume)."""
    engine = HFEngine(policy.vlm.eval(), policy.processor)
    callback = RolloutCallback(
        reward=GroupRecordingReward(), render_pool=render_pool, engine=engine, n=2, sampling=SAMPLING
    )
    state = callback.state_dict()
    first, _ = callback.rollout(records(1), policy)
    second, _ = callback.rollout(records(1), policy)
    assert [c.token_ids for c in first[0].completions] != [c.token_ids for c in second[0].completions]
    resumed = RolloutCallback(
        reward=GroupRecordingReward(), render_pool=render_pool, engine=engine, n=2, sampling=SAMPLING
    )
    resumed.load_state_dict(state)
    again, _ = resumed.rollout(records(1), policy)
    assert [c.token_ids for c in again[0].completions] == [c.token_ids for c in first[0].completions]


def test_bad_arguments_are_refused(render_pool: RenderPool) -> None:
    with pytest.raises(ValueError, match="n: group-relative"):
        RolloutCallback(reward=GroupRecordingReward(), render_pool=render_pool, n=1)
    with pytest.raises(ValueError, match="weight_sync"):
        RolloutCallback(reward=GroupRecordingReward(), render_pool=render_pool, weight_sync="nccl")  # type: ignore[arg-type]


# -- every reward belongs to its own completion ------------------------------------------------------------------------
# Per prompt, the scripted policy answers these completions in this order: an int k is an SVG whose left k tenths are
# red (its render tells k back), a string is a completion that cannot render. Orders differ between prompts and no
# group is symmetric, so a reward given to a neighbour, a reversed group or a shifted render gives another vector.
SCRIPTED_GROUPS: dict[str, list[int | str]] = {
    "p0": [3, 8, "Sorry, I cannot draw this.", 5],
    "p1": [9, "<svg><rect", 2, 6],
    "p2": ["no svg here", 4, 7, 1],
}


def red_bar_svg(tenths: int) -> str:
    return (
        '```svg\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        '<rect width="100" height="100" fill="white"/>'
        f'<rect width="{10 * tenths}" height="100" fill="#ff0000"/></svg>\n```'
    )


def red_tenths(image: Image.Image) -> int:
    """How many tenths of the image are red: the k of ``red_bar_svg(k)``, read back from its render."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    return round(10 * float(red.mean()))


class ScriptedPolicyEngine:
    """A ``GenerationEngine`` that answers each prompt (by its tag, the record id) with ``SCRIPTED_GROUPS``."""

    def __init__(self) -> None:
        self.weights_version = 0

    def generate(self, requests, n=1, sampling=None):
        out = []
        for request in requests:
            script = SCRIPTED_GROUPS[request.tag]
            assert len(script) == n
            out.append([Completion(red_bar_svg(k) if isinstance(k, int) else k, "stop") for k in script])
        return out

    def update_weights(self, update: WeightUpdate) -> None:
        self.weights_version = update.version

    def close(self) -> None:
        pass


class RedTenthsReward:
    """A plain reward function: k / 10 read from each pair's own render; 0 for a candidate that did not render."""

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        return [red_tenths(p.candidate_image()) / 10 if p.rendered else 0.0 for p in pairs]


class RedTenthsCritic:
    """A judge engine whose critique files one severity-1 error per red tenth of the candidate it was shown."""

    def __init__(self) -> None:
        self.weights_version = 0
        self.seen: list[int] = []

    def generate(self, requests, n=1, sampling=None):
        out = []
        for request in requests:
            images = [p["image"] for p in request.messages[-1]["content"] if p["type"] == "image"]
            tenths = red_tenths(images[1])  # reference first, candidate second
            self.seen.append(tenths)
            errors = [
                {"category": "shape", "severity": 1, "location": f"bar {i}", "description": "extra red"}
                for i in range(tenths)
            ]
            out.append([Completion("```json\n" + json.dumps({"errors": errors}) + "\n```")] * n)
        return out

    def update_weights(self, update: WeightUpdate) -> None:
        self.weights_version = update.version

    def close(self) -> None:
        pass


def _expected_judge_rewards(script: list[int | str]) -> list[float]:
    """Paper Eq. 4 per group: r_render 1 + (1 - S / max S) for a render with severity sum S = k; 0 unrendered."""
    worst = max(k for k in script if isinstance(k, int))
    return [1.0 + (1.0 - k / worst) if isinstance(k, int) else 0.0 for k in script]


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")  # the module is outside a Trainer
@pytest.mark.parametrize("path", ["reward_function", "judge"])
def test_every_reward_is_scored_from_its_own_completions_render(
    path: str, policy: GRPOModule, render_pool: RenderPool
) -> None:
    """The rewards in ``batch["rollout"]`` are, in order, each completion's own: read from its own render (plain
    reward function) or from the critique of its own render (``VisualERMJudge``); unrendered completions get 0."""
    from types import SimpleNamespace

    from src.reward.judge import VisualERMJudge

    critic = RedTenthsCritic()
    reward = RedTenthsReward() if path == "reward_function" else VisualERMJudge(critic)
    callback = RolloutCallback(
        reward=reward,
        render_pool=render_pool,
        engine=ScriptedPolicyEngine(),
        n=4,
        sampling=SAMPLING,
        stream_chunk_prompts=1,  # three chunks scored by two threads: groups reassembled in prompt order
        log_samples=0,
    )
    batch: dict[str, Any] = {"records": records(3)}
    trainer = SimpleNamespace(global_step=0, global_rank=0)
    callback.on_train_batch_start(trainer, policy, batch, 0)  # type: ignore[arg-type]

    scripts = [SCRIPTED_GROUPS[f"p{i}"] for i in range(3)]
    if path == "reward_function":
        expected = [[k / 10 if isinstance(k, int) else 0.0 for k in script] for script in scripts]
    else:
        expected = [_expected_judge_rewards(script) for script in scripts]
        assert sorted(critic.seen) == sorted(k for s in scripts for k in s if isinstance(k, int))  # each render once
    rewards = batch["rollout"].rewards
    assert rewards.shape == (3, 4)
    assert [r for row in rewards.tolist() for r in row] == pytest.approx([r for row in expected for r in row], abs=1e-4)
    groups = callback._last_groups
    for group, script in zip(groups, scripts, strict=True):
        assert [r.ok for r in group.renders] == [isinstance(k, int) for k in script]
        if path == "judge":  # a critique for every render, none for what did not render
            assert [c is not None for c in group.critiques] == [isinstance(k, int) for k in script]
