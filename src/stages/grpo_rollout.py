"""``RolloutCallback``: turns each batch of reference images into scored rollouts for ``GRPOModule``.

For every batch the DataModule yields (``VisionToCodeDataModule``: records with the reference image and the policy's
chat messages), before ``training_step``::

    policy prompt ──engine──▶ n completions ──render pool──▶ PNG ──reward (judge / baseline / sum)──▶ rewards
                                                                   └─▶ batch["rollout"]: a RolloutBatch

and after every optimizer step it pushes the new weights to the engine, then checks, before the next generation,
that the engine reports the version it was given — users of GRPO stacks report LoRA weights silently never reaching
the server (the reward stays flat), which this turns into an error.

Why it works this way:
- Streaming: completions are generated ``stream_chunk_prompts`` prompts at a time and each chunk is handed to a
  scoring thread (render in the pool's worker processes, then the reward) while the next chunk generates, so the
  step waits only for the last chunk's scoring. ``streaming: false`` scores after all generation (the baseline of
  ``benchmarks/grpo_step.py``), as does a step whose prompts fit one chunk: with nothing to overlap, it is scored on
  the training thread. A chunk always holds whole groups: group-relative rewards (paper Eq. 4) and
  advantages need every rollout of a prompt.
- Several processes: each rank generates and scores the groups of its own prompts (the DataModule's sampler already
  shards prompts by rank), so a group never spans ranks and no rollout crosses processes.
- Weight sync by ``weight_sync``: ``module`` (an in-process ``HFEngine`` generates with the trained module itself:
  nothing to copy; the module is put in eval mode for generation), ``adapter`` (rank 0 saves the LoRA adapter to
  ``sync_dir``; every rank's engine hot-loads it, e.g. vLLM's ``/v1/load_lora_adapter``), ``state_dict`` (merged
  weights, for in-process engines that load tensors). The version is the trainer's ``global_step``, so a resumed
  run re-syncs the engine to the checkpoint's weights before its first generation.
- Sequences are built exactly like SFT samples (``src.data.collate.training_sample``): the engine's token ids (which
  include the end-of-turn token when the model stopped, so stopping is learned too) after the generation prompt,
  labels -100 on the prompt. The engine's per-token log-probs travel along (NaN where unknown) for the truncated
  importance-sampling correction.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from src.data.collate import answer_suffix, encode_prompt, pad_id_of, pad_token_batch, training_sample
from src.engines.engine import ChatRequest, Completion, GenerationEngine, SamplingSettings, WeightUpdate
from src.models.loading import save_adapter
from src.render.job import ERROR_KINDS, RELEASED_MAX_SIDE, RENDER_MODES, RenderJob, RenderMode, RenderResult
from src.render.pool import RenderPool
from src.reward.judge import VisualERMJudge
from src.reward.pair import RewardFunction, RewardPair
from src.stages.rollout_batch import RolloutBatch
from src.stages.sample_images import log_sample, side_by_side

WeightSync = Literal["module", "adapter", "state_dict"]


class WeightSyncError(RuntimeError):
    """The engine does not serve the weights the trainer last pushed: its completions would be off-policy."""


@dataclass
class ScoredGroup:
    """One prompt's rollouts after rendering and reward."""

    record: dict[str, Any]
    completions: list[Completion]
    renders: list[RenderResult]
    rewards: list[float]
    critiques: list[str | None] = field(default_factory=list)


@dataclass
class ChunkTiming:
    render_s: float = 0.0
    reward_s: float = 0.0


class RolloutCallback(Callback):
    """Generates, renders and rewards the rollouts of each batch; keeps the engine on the current weights.

    Args:
        reward: any ``RewardFunction`` over (reference, render) pairs: ``VisualERMJudge``, a baseline, a weighted sum.
        render_pool: the sandboxed renderer pool the completions' code runs in.
        engine: the policy's engine; None = an ``HFEngine`` generating with the trained module itself.
        n: rollouts per prompt (paper: 8).
        sampling: policy sampling settings; ``max_new_tokens`` is the completion budget.
        streaming: score chunks while later chunks generate (off: generate everything, then score).
        stream_chunk_prompts: prompts per generation chunk when streaming.
        score_workers: chunks scored at once (render of one chunk overlaps the judge call of another; a served
            judge answers several requests at once).
        weight_sync: how new weights reach the engine (``module`` / ``adapter`` / ``state_dict``).
        sync_dir: where ``adapter`` sync writes adapters; default ``<log_dir>/policy_sync``.
        engine_batch_size: rows per ``generate`` call of the default ``HFEngine``.
        max_side: longest side of rendered images (paper: 1024 charts/SVG, 768 tables).
        render_mode: ``project`` renders, or ``released``: the public reward's (see ``RenderJob.mode``), at its
            per-domain sizes (``RELEASED_MAX_SIDE``; ``max_side`` does not apply), so a policy is rewarded on the
            images the released critic was trained to compare.
        log_samples: groups per step whose prompt, completions, renders and critiques are written under
            ``<log_dir>/rollout_samples`` (0: none).
    """

    def __init__(
        self,
        reward: RewardFunction,
        render_pool: RenderPool,
        engine: GenerationEngine | None = None,
        n: int = 8,
        sampling: SamplingSettings | None = None,
        streaming: bool = True,
        stream_chunk_prompts: int = 1,
        score_workers: int = 2,
        weight_sync: WeightSync = "module",
        sync_dir: str | None = None,
        engine_batch_size: int = 16,
        max_side: int = 1024,
        render_mode: RenderMode = "project",
        log_samples: int = 2,
    ) -> None:
        if n < 2:
            raise ValueError(f"n: group-relative advantages need >= 2 rollouts per prompt, got {n}")
        if score_workers < 1:
            raise ValueError(f"score_workers: must be >= 1, got {score_workers}")
        if stream_chunk_prompts < 1:
            raise ValueError(f"stream_chunk_prompts: must be >= 1, got {stream_chunk_prompts}")
        if render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode: {render_mode!r} is not one of {RENDER_MODES}")
        if weight_sync not in ("module", "adapter", "state_dict"):
            raise ValueError(f"weight_sync: {weight_sync!r} is not 'module', 'adapter' or 'state_dict'")
        self.reward = reward
        self.render_pool = render_pool
        self.engine = engine
        self.n = n
        self.sampling = sampling or SamplingSettings(temperature=1.0, max_new_tokens=1024)
        self.streaming = streaming
        self.stream_chunk_prompts = stream_chunk_prompts
        self.score_workers = score_workers
        self.weight_sync: WeightSync = weight_sync
        self.sync_dir = sync_dir
        self.engine_batch_size = engine_batch_size
        self.max_side = max_side
        self.render_mode: RenderMode = render_mode
        self.log_samples = log_samples
        self._scorer: ThreadPoolExecutor | None = None
        self._train_started_at: float | None = None
        self._last_groups: list[ScoredGroup] = []
        self._rank = 0
        self._generate_calls = 0  # seeds every generate call differently (checkpointed: a resumed run continues)
        self.phase_seconds: dict[str, float] = {}  # the last step's, for benchmarks and tests

    # -- lifecycle ---------------------------------------------------------------------------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.engine is None:
            if self.weight_sync != "module":
                raise ValueError("engine: None builds an HFEngine on the trained module; it needs weight_sync: module")
            from src.engines.hf_engine import HFEngine

            self.engine = HFEngine(_policy(pl_module), pl_module.processor, max_batch_size=self.engine_batch_size)
        self._rank = trainer.global_rank
        self._scorer = ThreadPoolExecutor(max_workers=self.score_workers, thread_name_prefix="rollout-score")
        # A fresh run pushes its starting weights; a resumed one the checkpoint's, before anything is generated.
        self._push_weights(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._shutdown()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        if self._scorer is not None:
            self._scorer.shutdown(wait=True)
            self._scorer = None
        self.render_pool.close()

    # -- one step ----------------------------------------------------------------------------------------------------
    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: dict[str, Any], batch_idx: int
    ) -> None:
        engine = self._require_engine()
        if engine.weights_version != trainer.global_step:
            raise WeightSyncError(
                f"the engine serves weights version {engine.weights_version} but the policy is at step "
                f"{trainer.global_step}: the last weight push did not reach it"
            )
        records = batch["records"]
        start = time.perf_counter()
        groups, timing = self.rollout(records, pl_module)
        batch["rollout"] = self.build_rollout_batch(groups, pl_module)
        self.phase_seconds = {**timing, "rollout": time.perf_counter() - start}
        self._log_rollout(pl_module, groups, len(records))
        if self.log_samples:
            self._write_samples(trainer, groups[: self.log_samples], engine.weights_version)
        self._last_groups = groups
        self._train_started_at = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        train_s = time.perf_counter() - (self._train_started_at or time.perf_counter())
        sync_s = 0.0
        if self._require_engine().weights_version != trainer.global_step:  # an optimizer step happened
            start = time.perf_counter()
            self._push_weights(trainer, pl_module)
            sync_s = time.perf_counter() - start
        self.phase_seconds.update(train=train_s, sync=sync_s)
        batch_size = batch["rollout"].completions
        pl_module.log("rollout/seconds_train", train_s, on_step=True, on_epoch=False, batch_size=batch_size)
        pl_module.log("rollout/seconds_sync", sync_s, on_step=True, on_epoch=False, batch_size=batch_size)

    def rollout(
        self, records: list[dict[str, Any]], pl_module: L.LightningModule | None = None
    ) -> tuple[list[ScoredGroup], dict[str, float]]:
        """Generate ``n`` completions per record and score them; returns the groups and seconds per phase.

        ``wait`` is the time generation had finished but scoring had not: the part of the step that streaming hides.
        """
        engine = self._require_engine()
        requests = [ChatRequest(messages=r["messages"], tag=str(r["id"])) for r in records]
        size = self.stream_chunk_prompts if self.streaming else len(records)
        chunks = [list(range(i, min(i + size, len(records)))) for i in range(0, len(records), size)]
        # One chunk leaves nothing to generate while it is scored, so it is scored on this thread: torch work on a
        # second thread (an in-process judge) slows this thread's later generation on a CPU.
        if len(chunks) > 1 and self._scorer is None:
            self._scorer = ThreadPoolExecutor(max_workers=self.score_workers, thread_name_prefix="rollout-score")
        scorer = self._scorer if len(chunks) > 1 else None
        futures: list[Future[tuple[list[ScoredGroup], ChunkTiming]]] = []
        inline: list[tuple[list[dict[str, Any]], list[list[Completion]]]] = []
        generate_s = 0.0
        policy = _policy(pl_module) if pl_module is not None and self.weight_sync == "module" else None
        was_training = bool(policy.training) if policy is not None else False
        try:
            if policy is not None:
                policy.eval()  # no LoRA dropout and no checkpointing while sampling
            for chunk in chunks:
                start = time.perf_counter()
                completions = engine.generate([requests[i] for i in chunk], self.n, self._next_sampling())
                generate_s += time.perf_counter() - start
                if scorer is not None:
                    futures.append(scorer.submit(self._score, [records[i] for i in chunk], completions))
                else:
                    inline.append(([records[i] for i in chunk], completions))
        finally:
            if policy is not None and was_training:
                policy.train()
        wait_start = time.perf_counter()
        results = [f.result() for f in futures] + [self._score(chunk, completions) for chunk, completions in inline]
        wait_s = time.perf_counter() - wait_start
        groups = [g for chunk_groups, _ in results for g in chunk_groups]
        timing = {
            "generate": generate_s,
            "render": sum(t.render_s for _, t in results),
            "reward": sum(t.reward_s for _, t in results),
            "wait": wait_s,
        }
        return groups, timing

    def _next_sampling(self) -> SamplingSettings:
        """The sampling settings with a seed of its own for this call and rank.

        Without one, an in-process engine that forks the RNG around each call would start every call from the same
        state and draw the same noise every step; a server would be left unseeded (not reproducible).
        """
        base = self.sampling.seed if self.sampling.seed is not None else 0
        seed = (base + 1_000_003 * self._rank + 7_919 * self._generate_calls) % 2**31
        self._generate_calls += 1
        return replace(self.sampling, seed=seed)

    def state_dict(self) -> dict[str, Any]:
        return {"generate_calls": self._generate_calls}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._generate_calls = int(state_dict.get("generate_calls", 0))

    def _score(
        self, records: list[dict[str, Any]], completions: list[list[Completion]]
    ) -> tuple[list[ScoredGroup], ChunkTiming]:
        """Render every completion of these groups in the pool, then reward them in one call (whole groups)."""
        timing = ChunkTiming()
        start = time.perf_counter()
        jobs = [
            RenderJob(
                domain=r["domain"],
                source=c.text,
                max_side=RELEASED_MAX_SIDE[r["domain"]] if self.render_mode == "released" else self.max_side,
                mode=self.render_mode,
                tag=f"{r['id']}/{j}",
            )
            for r, group in zip(records, completions, strict=True)
            for j, c in enumerate(group)
        ]
        renders = self.render_pool.render(jobs)
        timing.render_s = time.perf_counter() - start
        pairs = [
            RewardPair(
                reference=r["image"],
                candidate=renders[g * self.n + j],
                domain=r["domain"],
                group=str(r["id"]),
                reference_source=r.get("reference_code"),
                candidate_source=c.text,
            )
            for g, (r, group) in enumerate(zip(records, completions, strict=True))
            for j, c in enumerate(group)
        ]
        start = time.perf_counter()
        critiques: list[str | None] = [None] * len(pairs)
        if isinstance(self.reward, VisualERMJudge):  # keep the critiques for the sample dumps
            result = self.reward.judge(pairs)
            rewards = list(result.rewards)
            critiques = [p.answer for p in result.pairs]
        else:
            rewards = [float(r) for r in self.reward(pairs)]
        timing.reward_s = time.perf_counter() - start
        if len(rewards) != len(pairs):
            raise ValueError(f"the reward returned {len(rewards)} values for {len(pairs)} pairs")
        groups = [
            ScoredGroup(
                record=r,
                completions=group,
                renders=renders[g * self.n : (g + 1) * self.n],
                rewards=rewards[g * self.n : (g + 1) * self.n],
                critiques=critiques[g * self.n : (g + 1) * self.n],
            )
            for g, (r, group) in enumerate(zip(records, completions, strict=True))
        ]
        return groups, timing

    # -- from rollouts to a training batch ---------------------------------------------------------------------------
    def build_rollout_batch(self, groups: list[ScoredGroup], pl_module: L.LightningModule) -> RolloutBatch:
        """Right-padded prompt+completion sequences (SFT layout), rewards [groups, n] and the engine's log-probs."""
        processor: Any = getattr(pl_module, "processor", None)
        suffix_ids: list[int] | None = None
        rows, engine_rows = [], []
        for group in groups:
            record = group.record
            prompt = encode_prompt(processor, record["messages"], [record["image"]])
            prompt_len = int(prompt["input_ids"].shape[0])
            for j, completion in enumerate(group.completions):
                ids = completion.token_ids
                logprobs = completion.logprobs
                if ids is None:  # an engine without token ids: re-tokenize (and close the turn when it stopped)
                    if suffix_ids is None:
                        suffix_ids = processor.tokenizer(answer_suffix(processor), add_special_tokens=False)[
                            "input_ids"
                        ]
                    text_ids = processor.tokenizer(completion.text, add_special_tokens=False)["input_ids"]
                    ids = text_ids + (suffix_ids if completion.finish_reason == "stop" else [])
                    logprobs = None
                ids = list(ids)[: self.sampling.max_new_tokens]
                answer = torch.tensor(ids, dtype=torch.long)
                sample = training_sample(prompt, answer, prompt_len + len(ids) + 1, f"{record['id']}/{j}")
                rows.append(sample)
                engine_lp = torch.full((prompt_len + len(ids),), float("nan"))
                if logprobs is not None and len(logprobs) >= len(ids):
                    engine_lp[prompt_len:] = torch.tensor(logprobs[: len(ids)], dtype=torch.float)
                engine_rows.append(engine_lp)
        pad_id = pad_id_of(processor)
        padded = pad_token_batch(rows, pad_id, side="right", with_labels=True)
        labels = padded.pop("labels")  # [groups*n, seq]
        # A sampled vision marker (<|image_pad|>, <|vision_start|>, ...) would be read as an image slot by the forward
        # (Qwen3-VL counts image tokens by id and finds images by <|vision_start|>), which fails or shifts positions.
        # As an input it becomes padding; as a label it stays, so emitting it is still scored and can be unlearned.
        markers = _vision_marker_ids(_policy(pl_module))
        if markers:
            in_completion = labels != -100  # [groups*n, seq]
            is_marker = torch.isin(padded["input_ids"], torch.tensor(markers)) & in_completion
            padded["input_ids"] = padded["input_ids"].masked_fill(is_marker, pad_id)
        longest = labels.shape[1]
        engine_logprobs = torch.full((len(rows), longest), float("nan"))  # [groups*n, seq]
        for i, row in enumerate(engine_rows):
            engine_logprobs[i, : row.shape[0]] = row
        device = pl_module.device
        return RolloutBatch(
            model_inputs={k: v.to(device) for k, v in padded.items()},
            labels=labels.to(device),
            rewards=torch.tensor([g.rewards for g in groups], dtype=torch.float, device=device),  # [groups, n]
            engine_logprobs=engine_logprobs.to(device),
            temperature=self.sampling.temperature,
        )

    # -- weights -----------------------------------------------------------------------------------------------------
    def _push_weights(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        engine = self._require_engine()
        version = trainer.global_step
        if self.weight_sync == "module":
            engine.update_weights(WeightUpdate(version=version, module=_policy(pl_module)))
        elif self.weight_sync == "adapter":
            root = Path(self.sync_dir or Path(trainer.log_dir or trainer.default_root_dir) / "policy_sync")
            out = root / f"v{version:07d}"
            with _full_parameters(trainer):  # every rank enters (FSDP gathers); rank 0 writes
                if trainer.is_global_zero:
                    save_adapter(_policy(pl_module), out)
                    for old in sorted(root.glob("v*"))[:-2]:  # the engine may still read the previous one
                        shutil.rmtree(old, ignore_errors=True)
            trainer.strategy.barrier("policy_adapter_saved")
            engine.update_weights(WeightUpdate(version=version, adapter_dir=out))
        else:
            engine.update_weights(WeightUpdate(version=version, state_dict=merged_state_dict(_policy(pl_module))))
        if engine.weights_version != version:
            raise WeightSyncError(f"pushed weights version {version}; the engine reports {engine.weights_version}")

    def _require_engine(self) -> GenerationEngine:
        if self.engine is None:
            raise RuntimeError("the rollout engine is not set up yet (on_train_start builds the default one)")
        return self.engine

    # -- logging -----------------------------------------------------------------------------------------------------
    def _log_rollout(self, pl_module: L.LightningModule, groups: list[ScoredGroup], n_prompts: int) -> None:
        rewards = torch.tensor([g.rewards for g in groups], dtype=torch.float)  # [groups, n]
        lengths = torch.tensor(
            [len(c.token_ids) if c.token_ids is not None else len(c.text) for g in groups for c in g.completions],
            dtype=torch.float,
        )
        failures = Counter(r.error_kind for g in groups for r in g.renders if not r.ok)
        total = max(1, rewards.numel())
        values = {
            "reward_mean": rewards.mean().item(),
            "reward_std": rewards.std().item() if rewards.numel() > 1 else 0.0,
            "zero_variance_groups": (rewards.max(1).values == rewards.min(1).values).float().mean().item(),
            "render_ok": sum(r.ok for g in groups for r in g.renders) / total,
            "completion_tokens": lengths.mean().item(),
            "truncated": sum(c.finish_reason == "length" for g in groups for c in g.completions) / total,
            "engine_errors": sum(c.error is not None for g in groups for c in g.completions) / total,
            "weights_version": float(self._require_engine().weights_version),
        }
        values.update({f"render_fail_{kind}": failures.get(kind, 0) / total for kind in ERROR_KINDS})
        values.update({f"seconds_{phase}": s for phase, s in self.phase_seconds.items()})
        for name, value in values.items():
            pl_module.log(f"rollout/{name}", value, on_step=True, on_epoch=False, batch_size=n_prompts)

    def _write_samples(self, trainer: L.Trainer, groups: list[ScoredGroup], version: int) -> None:
        """A few groups per step as JSONL + PNGs: reference, each render, each critique (for eyes, not metrics)."""
        root = Path(trainer.log_dir or trainer.default_root_dir) / "rollout_samples"
        step_dir = root / f"step{trainer.global_step:06d}-rank{trainer.global_rank}"
        step_dir.mkdir(parents=True, exist_ok=True)
        with (step_dir / "samples.jsonl").open("w") as out:
            for g, group in enumerate(groups):
                record = group.record
                record["image"].save(step_dir / f"g{g}-reference.png")
                for j, (completion, render, reward, critique) in enumerate(
                    zip(group.completions, group.renders, group.rewards, group.critiques, strict=True)
                ):
                    if render.ok and render.png is not None:
                        (step_dir / f"g{g}-{j}.png").write_bytes(render.png)
                    row = {
                        "step": trainer.global_step,
                        "rank": trainer.global_rank,
                        "weights_version": version,
                        "prompt_id": record["id"],
                        "group": g,  # names the PNGs: g<group>-reference.png, g<group>-<rollout>.png
                        "domain": record["domain"],
                        "rollout": j,
                        "completion": completion.text,
                        "finish_reason": completion.finish_reason,
                        "reward": reward,
                        "rendered": render.ok,
                        "render_error": render.error_kind,
                        "critique": critique,
                    }
                    out.write(json.dumps(row) + "\n")
                self._log_sample_images(trainer, g, group)

    @staticmethod
    def _log_sample_images(trainer: L.Trainer, g: int, group: ScoredGroup) -> None:
        """The reference and every render of group ``g`` as one image in TensorBoard / W&B, critiques as text."""
        renders = [r.png if r.ok and r.png is not None else None for r in group.renders]
        lines = [f"**{group.record['id']}** ({group.record['domain']}): reference, then rollouts 0..{len(renders) - 1}"]
        for j, (render, reward, critique) in enumerate(zip(group.renders, group.rewards, group.critiques, strict=True)):
            lines.append(f"- rollout {j}: reward {reward:.3f}, render {render.error_kind or 'ok'}")
            if critique:
                lines.append(f"\n```\n{critique}\n```")
        strip = side_by_side([group.record["image"], *renders])
        tag = f"rollout/samples/rank{trainer.global_rank}/g{g}"
        log_sample(trainer.loggers, tag, strip, "\n".join(lines), trainer.global_step)


def merged_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Full weights under the base model's names; LoRA is merged in for the copy and unmerged after (as TRL does)."""
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.merge_adapter()
    try:
        out = {}
        for name, value in model.get_base_model().state_dict().items():
            if "lora_" in name:
                continue
            out[name.replace(".base_layer.", ".")] = value.detach().clone()
        return out
    finally:
        model.unmerge_adapter()


def _full_parameters(trainer: L.Trainer) -> AbstractContextManager[Any]:
    """Under FSDP, the full (unsharded) parameters on rank 0 for the length of the block; elsewhere a no-op.

    Collective: every rank must enter. Not exercised on CPU (Lightning runs FSDP on GPUs only).
    """
    from lightning.pytorch.strategies import FSDPStrategy

    if not isinstance(trainer.strategy, FSDPStrategy) or trainer.strategy.model is None:
        return nullcontext()
    from torch.distributed.fsdp import FullyShardedDataParallel

    return FullyShardedDataParallel.summon_full_params(
        trainer.strategy.model, writeback=False, rank0_only=True, offload_to_cpu=True
    )


def _vision_marker_ids(model: Any) -> list[int]:
    """Token ids the VLM's forward treats as image/video structure (Qwen2/2.5/3-VL config names)."""
    config = getattr(model, "config", None)
    names = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    return [int(v) for v in (getattr(config, name, None) for name in names) if v is not None]


def _policy(pl_module: L.LightningModule | None) -> Any:
    model = getattr(pl_module, "model", None)
    if model is None:
        raise RuntimeError("the LightningModule has no .model (is it a GRPOModule with configure_model run?)")
    return model
