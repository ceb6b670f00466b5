"""GRPO: reinforce the vision-to-code policy with group-normalized rewards (Visual-ERM, or any reward in the YAML).

    python -m src fit --config configs/grpo/debug.yaml                 # CPU, seconds, tiny random policy and judge
    python -m src fit --config configs/grpo/qwen3vl_8b_chart_lora.yaml  # one GPU, judge behind `vllm serve`

The module holds the loss; ``src.stages.grpo_rollout.RolloutCallback`` fills ``batch["rollout"]`` before each
``training_step`` (prompt → n completions → render → reward) and pushes the new weights to the engine after each
optimizer step. One rollout batch feeds one optimizer step (accumulated over ``accumulate_grad_batches`` micro
batches, all generated with the same weights), so the policy that sampled is the policy being updated.

The objective (DeepSeekMath Eq. 3, with DAPO's and Dr. GRPO's aggregation choices), per completion token t of
completion i in group g::

    A_i      = (r_i − mean_g r) / (std_g r + eps)          # "group" scaling (paper); Dr. GRPO: r_i − mean_g r
    ρ_t      = π(o_t) / π_old(o_t)                         # ≡ 1 in value here, but carries the gradient
    L_t      = −min(ρ_t A_i, clip(ρ_t, 1 − ε, 1 + ε_high) A_i) · w_t  +  β · KL_t  −  γ · H_t
    KL_t     = exp(ref_t − logp_t) − (ref_t − logp_t) − 1  # k3: unbiased, always ≥ 0, low variance (Schulman)
    w_t      = min(exp(logp_old_t − logp_engine_t), cap)   # truncated importance sampling (engine ≠ trainer)

Worked example (one group of n = 4, rewards as the Visual-ERM reward gives them: 0 = did not render)::

    r = [2.0, 1.5, 1.0, 0.0]   mean = 1.125   std (unbiased) = 0.854
    A = [1.025, 0.439, −0.146, −1.317]           # scale_rewards="group"
    A = [0.875, 0.375, −0.125, −1.125]           # scale_rewards="none" (Dr. GRPO)
    r = [1.0, 1.0, 1.0, 1.0]  →  A = [0, 0, 0, 0]  # equal rewards: no policy gradient from this group

With completions of 2 and 4 tokens, per-token losses ℓ and mask m, the three aggregations are::

    grpo    = mean_i ( Σ_t m ℓ / Σ_t m )          # each completion weighs the same (long ones per token less)
    dapo    = Σ_i Σ_t m ℓ / Σ_i Σ_t m             # each token weighs the same
    dr_grpo = Σ_i Σ_t m ℓ / (n_completions · max_completion_tokens)   # constant normalizer: no length bias

Log-probs are computed at completion positions only, in chunks (``src.models.lm_head``), so the [batch, seq, vocab]
logits never exist. The KL reference of a LoRA policy is the same model with the adapters switched off (peft's
``disable_adapter``): no second copy of the 8B weights.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

import torch

from src.models.lm_head import backbone_and_head, chunked_token_logprobs
from src.models.loading import VLMLoader, load_vlm_model
from src.stages.rollout_batch import RolloutBatch
from src.stages.vlm_stage import VLMStage

IGNORE_INDEX = -100
LossType = Literal["grpo", "dr_grpo", "dapo"]
RewardScaling = Literal["group", "none"]
ImportanceSampling = Literal["none", "token_truncate"]


# -- the math -----------------------------------------------------------------------------------------------------------
def group_advantages(rewards: torch.Tensor, scale: RewardScaling = "group", eps: float = 1e-4) -> torch.Tensor:
    """Advantages of each completion relative to its own group (the rollouts of one prompt).

    Args:
        rewards: [groups, n] rewards, one row per prompt.
        scale: ``group`` divides by the group's (unbiased) standard deviation, as the paper and DeepSeekMath do;
            ``none`` only centres (Dr. GRPO: dividing by std up-weights groups that are almost solved or unsolved).
        eps: added to the std so a group with tiny spread does not explode.

    Returns:
        [groups, n] advantages; exactly 0 for every member of a group whose rewards are all equal.
    """
    if rewards.ndim != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards: expected [groups, n >= 2], got shape {tuple(rewards.shape)}")
    rewards = rewards.float()
    centered = rewards - rewards.mean(dim=1, keepdim=True)  # [groups, n]
    if scale == "none":
        return centered
    return centered / (rewards.std(dim=1, keepdim=True) + eps)  # [groups, n]


KL_LOG_RATIO_CLAMP = 20.0
KL_TOKEN_CLAMP = 10.0


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token estimate of KL(π ‖ π_ref) from samples of π: exp(ref − logp) − (ref − logp) − 1 (Schulman's k3).

    Non-negative for every token and unbiased in expectation; its gradient pulls logp towards ref. Clamped as the
    released recipe's low-variance estimator (verl's ``low_var_kl``) is: the log-ratio to ±20 and each token's value to
    at most 10, so one token the reference finds near-impossible (exp of a large ratio) cannot outweigh a whole batch.
    """
    delta = (ref_logprobs - logprobs).clamp(-KL_LOG_RATIO_CLAMP, KL_LOG_RATIO_CLAMP)  # [batch, seq]
    return (torch.exp(delta) - delta - 1).clamp(max=KL_TOKEN_CLAMP)  # [batch, seq]


def truncated_importance_weights(old_logprobs: torch.Tensor, engine_logprobs: torch.Tensor, cap: float) -> torch.Tensor:
    """π_trainer / π_engine per token, capped at ``cap`` (TRL's default correction, cap 3).

    Engines sample with different kernels (and vLLM in bf16), so the tokens come from a policy a little off the one
    the trainer scores; without the correction the gradient is biased, and rare tokens the engine over-samples can
    make ratios explode. Detached: a weight, not a path for gradients.
    """
    return torch.exp(old_logprobs - engine_logprobs).clamp(max=cap).detach()  # [batch, seq]


def aggregate(
    per_token: torch.Tensor, mask: torch.Tensor, loss_type: LossType, max_completion_tokens: int
) -> torch.Tensor:
    """Reduce [batch, seq] per-token losses to a scalar over the masked (completion) tokens; see module docstring."""
    mask = mask.to(per_token.dtype)  # [batch, seq]
    if loss_type == "grpo":
        per_completion = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # [batch]
        return per_completion.mean()
    if loss_type == "dapo":
        return (per_token * mask).sum() / mask.sum().clamp(min=1)
    if loss_type == "dr_grpo":
        return (per_token * mask).sum() / (per_token.shape[0] * max_completion_tokens)
    raise ValueError(f"loss_type: {loss_type!r} is not 'grpo', 'dr_grpo' or 'dapo'")


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logprobs: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    entropy: torch.Tensor | None = None,
    entropy_coef: float = 0.0,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    importance_weights: torch.Tensor | None = None,
    loss_type: LossType = "grpo",
    max_completion_tokens: int = 1024,
    policy_loss: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped policy-gradient loss with KL and entropy terms, and the statistics worth logging.

    Args:
        logprobs: [batch, seq] log π(token) of the policy being trained (with gradient).
        old_logprobs: [batch, seq] log π_old(token) of the policy that sampled, as the trainer scores it.
        advantages: [batch] one advantage per completion.
        mask: [batch, seq] True at completion tokens.
        ref_logprobs: [batch, seq] log π_ref(token), needed when ``kl_coef`` > 0.
        kl_coef: β, weight of the k3 KL to the reference (paper: 0.01).
        entropy: [batch, seq] entropy of the policy at each position (logged; trained on when ``entropy_coef`` > 0).
        entropy_coef: γ; the paper uses 0.
        epsilon: lower clip range ε.
        epsilon_high: upper clip range (DAPO's clip-higher); defaults to ``epsilon``.
        importance_weights: [batch, seq] truncated engine→trainer correction, or None.
        loss_type: ``grpo`` / ``dapo`` / ``dr_grpo`` aggregation.
        max_completion_tokens: the normalizer of ``dr_grpo`` (the sampling budget).
        policy_loss: False drops the policy-gradient term (KL and entropy only): the control of the learning test.
    """
    eps_high = epsilon if epsilon_high is None else epsilon_high
    maskf = mask.float()  # [batch, seq]
    adv = advantages[:, None].float()  # [batch, 1]
    ratio = torch.exp(logprobs - old_logprobs)  # [batch, seq]
    unclipped = ratio * adv  # [batch, seq]
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + eps_high) * adv  # [batch, seq]
    per_token = -torch.minimum(unclipped, clipped)  # [batch, seq]
    if importance_weights is not None:
        per_token = per_token * importance_weights  # [batch, seq]
    if not policy_loss:
        per_token = per_token * 0.0
    stats: dict[str, torch.Tensor] = {}
    if kl_coef > 0:
        if ref_logprobs is None:
            raise ValueError("kl_coef > 0 needs ref_logprobs")
        kl = k3_kl(logprobs, ref_logprobs)  # [batch, seq]
        per_token = per_token + kl_coef * kl
        stats["kl"] = _masked_mean(kl, maskf).detach()
    if entropy is not None:
        if entropy_coef:
            per_token = per_token - entropy_coef * entropy
        stats["entropy"] = _masked_mean(entropy, maskf).detach()
    loss = aggregate(per_token, mask, loss_type, max_completion_tokens)
    # Clipping is active where the clipped branch is the smaller one (it then carries no gradient).
    is_clipped = ((ratio < 1 - epsilon) & (adv < 0)) | ((ratio > 1 + eps_high) & (adv > 0))  # [batch, seq]
    stats["clip_fraction"] = _masked_mean(is_clipped.float(), maskf).detach()
    if importance_weights is not None:
        stats["importance_weight"] = _masked_mean(importance_weights, maskf).detach()
    return loss, stats


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


def completion_logprobs(
    model: torch.nn.Module,
    model_inputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    temperature: float = 1.0,
    chunk_tokens: int = 2048,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-probs and entropies of the completion tokens, in [batch, seq − 1] "predicts the next token" layout.

    ``labels`` is the SFT layout (``src.data.collate.training_sample``): the completion's token ids, -100 on
    prompt and padding. Position t predicts token t + 1, so entry t of each output belongs to ``labels[:, t + 1]``;
    entries off the completion are 0 and ``mask`` is False there. The LM head runs on completion positions only.

    Returns:
        ``(logprobs, entropy, mask)``, each [batch, seq − 1].
    """
    mask = labels[:, 1:] != IGNORE_INDEX  # [batch, seq-1]
    backbone, head = backbone_and_head(model)
    hidden = backbone(**model_inputs, use_cache=False).last_hidden_state  # [batch, seq, hidden]
    kept = hidden[:, :-1][mask]  # [tokens, hidden]
    targets = labels[:, 1:][mask]  # [tokens]
    token_logprobs, token_entropy = chunked_token_logprobs(head, kept, targets, temperature, chunk_tokens)  # [tokens]
    logprobs = token_logprobs.new_zeros(mask.shape)  # [batch, seq-1]
    entropy = token_entropy.new_zeros(mask.shape)  # [batch, seq-1]
    logprobs = logprobs.masked_scatter(mask, token_logprobs)  # [batch, seq-1]
    entropy = entropy.masked_scatter(mask, token_entropy)  # [batch, seq-1]
    return logprobs, entropy, mask


# -- the stage ----------------------------------------------------------------------------------------------------------
class GRPOModule(VLMStage):
    """GRPO on a vision-language policy; rollouts come from ``RolloutCallback`` (``batch["rollout"]``).

    Args:
        loader: the policy: HF id or local dir, dtype, attention, LoRA/QLoRA.
        lr: AdamW learning rate (paper: 1e-6 for the full model; LoRA adapters take ~10x more).
        weight_decay: AdamW weight decay.
        betas: AdamW betas.
        warmup_steps: linear warmup over this many optimizer steps, then constant.
        epsilon: PPO clip range ε (paper: 0.2).
        epsilon_high: upper clip range (DAPO clip-higher, e.g. 0.28); None = ``epsilon``.
        kl_coef: β of the k3 KL to the reference (paper: 0.01); 0 skips the reference forward.
        entropy_coef: entropy bonus γ (paper: 0); entropy is logged either way.
        loss_type: ``grpo`` (sequence mean), ``dapo`` (token mean) or ``dr_grpo`` (constant normalizer).
        scale_rewards: ``group`` (paper: divide by the group std) or ``none`` (Dr. GRPO).
        importance_sampling: ``token_truncate`` corrects for engine-vs-trainer log-prob mismatch with weights
            capped at ``importance_cap`` (needs the engine's log-probs; skipped for completions without them).
        importance_cap: the cap of the truncated importance weights (TRL: 3).
        max_completion_tokens: normalizer of ``dr_grpo``; set it to the sampling budget.
        policy_loss: False trains on KL/entropy alone — the control run of the learning test, never a real run.
        logprob_chunk_tokens: completion tokens per LM-head chunk.
        adapter_dir: where the final LoRA adapter (+ processor) is written; default ``<log_dir>/adapter``.
        tiny_model_if_missing: debug configs only: build the tiny random Qwen3-VL at ``loader.name_or_path`` first.
    """

    def __init__(
        self,
        loader: VLMLoader,
        lr: float = 1e-6,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        warmup_steps: int = 0,
        epsilon: float = 0.2,
        epsilon_high: float | None = None,
        kl_coef: float = 0.01,
        entropy_coef: float = 0.0,
        loss_type: LossType = "grpo",
        scale_rewards: RewardScaling = "group",
        importance_sampling: ImportanceSampling = "token_truncate",
        importance_cap: float = 3.0,
        max_completion_tokens: int = 1024,
        policy_loss: bool = True,
        logprob_chunk_tokens: int = 2048,
        adapter_dir: str | None = None,
        tiny_model_if_missing: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not 0 < epsilon < 1:
            raise ValueError(f"epsilon: must be in (0, 1), got {epsilon}")
        if kl_coef < 0:
            raise ValueError(f"kl_coef: must be >= 0, got {kl_coef}")
        if importance_cap < 1:
            raise ValueError(f"importance_cap: must be >= 1, got {importance_cap}")
        if max_completion_tokens < 1:
            raise ValueError(f"max_completion_tokens: must be >= 1, got {max_completion_tokens}")
        self.loader = loader
        self.lr, self.weight_decay, self.betas, self.warmup_steps = lr, weight_decay, betas, warmup_steps
        self.epsilon, self.epsilon_high = epsilon, epsilon_high
        self.kl_coef, self.entropy_coef = kl_coef, entropy_coef
        self.loss_type: LossType = loss_type
        self.scale_rewards: RewardScaling = scale_rewards
        self.importance_sampling, self.importance_cap = importance_sampling, importance_cap
        self.max_completion_tokens = max_completion_tokens
        self.policy_loss = policy_loss
        self.logprob_chunk_tokens = logprob_chunk_tokens
        self.adapter_dir, self.tiny_model_if_missing = adapter_dir, tiny_model_if_missing
        self.reference_model: torch.nn.Module | None = None  # only for full fine-tuning with kl_coef > 0

    # -- setup -------------------------------------------------------------------------------------------------------
    def on_model_loaded(self) -> None:
        if self.kl_coef > 0 and not self.is_peft:
            # Full fine-tuning has no adapters to switch off: the reference is a frozen copy of the start weights.
            reference = load_vlm_model(
                VLMLoader(**{**vars(self.loader), "lora": None, "gradient_checkpointing": False})
            )
            self.reference_model = reference.eval().requires_grad_(False)

    def _reference_scope(self) -> AbstractContextManager[Any]:
        """For LoRA: the same weights with adapters off; gradients never flow into the reference."""
        return self.vlm.disable_adapter() if self.is_peft else nullcontext()

    # -- training ----------------------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        rollout = batch.get("rollout")
        if rollout is None:
            raise RuntimeError(
                "the batch has no rollouts: add src.stages.grpo_rollout.RolloutCallback to the callbacks"
            )
        loss, stats = self.rollout_loss(rollout)
        n = rollout.completions
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        for name, value in stats.items():
            self.log(f"train/{name}", value, batch_size=n)
        return loss

    def rollout_loss(self, rollout: RolloutBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The GRPO loss of one rollout batch."""
        rewards = rollout.rewards  # [groups, n]
        advantages = group_advantages(rewards, self.scale_rewards).flatten()  # [groups*n]
        temperature = rollout.temperature or 1.0  # greedy rollouts are scored at T = 1
        inputs, labels = rollout.model_inputs, rollout.labels  # labels: [groups*n, seq]
        logprobs, entropy, mask = completion_logprobs(
            self.vlm, inputs, labels, temperature, self.logprob_chunk_tokens
        )  # [groups*n, seq-1] each
        old_logprobs = logprobs.detach()  # one update per rollout batch: π_old is the current policy
        ref_logprobs = None
        if self.kl_coef > 0:
            with torch.no_grad(), self._reference_scope():
                reference = self.reference_model if self.reference_model is not None else self.vlm
                ref_logprobs, _, _ = completion_logprobs(
                    reference, inputs, labels, temperature, self.logprob_chunk_tokens
                )  # [groups*n, seq-1]
        weights = None
        engine_logprobs = rollout.engine_logprobs  # [groups*n, seq] aligned with labels; NaN where unknown
        if self.importance_sampling == "token_truncate" and engine_logprobs is not None:
            engine = engine_logprobs[:, 1:]  # [groups*n, seq-1]
            known = ~torch.isnan(engine)
            weights = torch.where(
                known, truncated_importance_weights(old_logprobs, engine.nan_to_num(0.0), self.importance_cap), 1.0
            )  # [groups*n, seq-1]
        loss, stats = grpo_loss(
            logprobs,
            old_logprobs,
            advantages,
            mask,
            ref_logprobs=ref_logprobs,
            kl_coef=self.kl_coef,
            entropy=entropy,
            entropy_coef=self.entropy_coef,
            epsilon=self.epsilon,
            epsilon_high=self.epsilon_high,
            importance_weights=weights,
            loss_type=self.loss_type,
            max_completion_tokens=self.max_completion_tokens,
            policy_loss=self.policy_loss,
        )
        stats["advantage_abs"] = advantages.abs().mean().detach()
        stats["completion_tokens"] = mask.sum().float() / mask.shape[0]
        return loss, stats

    def configure_optimizers(self) -> Any:
        warmup = self.warmup_steps

        def lr_factor(step: int) -> float:
            return min(1.0, (step + 1) / (warmup + 1)) if warmup else 1.0

        return self.adamw(lr_factor)

    # -- checkpoints -------------------------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """As every VLM stage saves, never the KL reference: it is the start weights, reloaded from their source."""
        super().on_save_checkpoint(checkpoint)
        state = checkpoint["state_dict"]
        checkpoint["state_dict"] = {k: v for k, v in state.items() if not k.startswith("reference_model.")}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        if self.reference_model is not None:  # its weights are not in the checkpoint (see on_save_checkpoint)
            self.strict_loading = False


def rollouts_in_batch(batch: dict[str, Any]) -> int:
    """Completions trained on in a batch (``ThroughputMonitor.batch_size_fn``)."""
    rollout = batch.get("rollout")
    return rollout.completions if rollout is not None else 0
