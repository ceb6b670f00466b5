"""GRPO math pinned to hand-computed values, the completion log-probs checked against a full forward, and the loss of
a rollout batch (advantages, mask, KL reference, importance weights) checked against an independent computation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from src.models.loading import LoraSettings, VLMLoader, load_vlm
from src.stages.grpo import (
    IGNORE_INDEX,
    GRPOModule,
    aggregate,
    completion_logprobs,
    group_advantages,
    grpo_loss,
    k3_kl,
    truncated_importance_weights,
)
from src.stages.rollout_batch import RolloutBatch


def test_group_advantages_match_the_worked_example() -> None:
    rewards = torch.tensor([[2.0, 1.5, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    # mean 1.125, unbiased std sqrt(2.1875 / 3) = 0.85391
    exact = group_advantages(rewards[:1], "group", eps=0.0)
    assert exact[0].tolist() == pytest.approx([1.02470, 0.43916, -0.14639, -1.31747], abs=1e-4)
    scaled = group_advantages(rewards)  # eps = 1e-4 keeps the equal-reward group at 0 / 1e-4
    assert scaled[1].tolist() == [0.0, 0.0, 0.0, 0.0]  # equal rewards: exactly zero, no 0/0
    centered = group_advantages(rewards, "none")
    assert centered[0].tolist() == pytest.approx([0.875, 0.375, -0.125, -1.125])
    assert centered[1].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_group_advantages_reject_groups_of_one() -> None:
    with pytest.raises(ValueError, match="n >= 2"):
        group_advantages(torch.tensor([[1.0], [2.0]]))


def test_k3_kl_hand_values() -> None:
    logp = torch.log(torch.tensor([[0.5, 0.5, 0.2]]))
    ref = torch.log(torch.tensor([[0.25, 0.5, 0.4]]))
    # delta = ref - logp: log 0.5, 0, log 2 -> exp(d) - d - 1
    expected = [0.5 - math.log(0.5) - 1, 0.0, 2 - math.log(2) - 1]
    assert k3_kl(logp, ref)[0].tolist() == pytest.approx(expected, abs=1e-6)
    assert (k3_kl(torch.randn(4, 9), torch.randn(4, 9)) >= 0).all()


def test_k3_kl_is_clamped_like_the_released_low_variance_estimator() -> None:
    """A token the reference finds e^-30 as likely costs at most 10, with a finite gradient (verl's low_var_kl)."""
    logp = torch.tensor([[0.0, -1.0]], requires_grad=True)
    ref = torch.tensor([[30.0, -1.0 + 2.0]])
    kl = k3_kl(logp, ref)
    assert kl[0, 0].item() == 10.0
    assert kl[0, 1].item() == pytest.approx(math.exp(2) - 2 - 1)  # under the clamp: exact k3
    kl.sum().backward()
    assert logp.grad is not None and torch.isfinite(logp.grad).all()


def test_truncated_importance_weights_cap() -> None:
    old = torch.log(torch.tensor([0.5, 0.5, 0.2]))
    engine = torch.log(torch.tensor([0.1, 0.5, 0.4]))
    assert truncated_importance_weights(old, engine, cap=3.0).tolist() == pytest.approx([3.0, 1.0, 0.5])


def _two_completions() -> tuple[torch.Tensor, torch.Tensor]:
    """Completion 0 has 2 tokens, completion 1 has 4 (sequence length 5, right padded)."""
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool)
    return torch.zeros(2, 5, requires_grad=True), mask


@pytest.mark.parametrize(
    ("loss_type", "expected"),
    [
        ("grpo", (-3 + 1) / 2),  # each completion's mean token loss (-3, +1), averaged
        ("dapo", (2 * -3 + 4 * 1) / 6),  # every token weighs the same
        ("dr_grpo", (2 * -3 + 4 * 1) / (2 * 8)),  # constant normalizer: 2 completions x 8 budget tokens
    ],
)
def test_loss_aggregations_hand_values(loss_type: str, expected: float) -> None:
    logprobs, mask = _two_completions()
    advantages = torch.tensor([3.0, -1.0])  # ratio 1: per-token loss is -A
    loss, stats = grpo_loss(logprobs, logprobs.detach(), advantages, mask, loss_type=loss_type, max_completion_tokens=8)  # type: ignore[arg-type]
    assert loss.item() == pytest.approx(expected)
    assert stats["clip_fraction"].item() == 0.0
    loss.backward()
    # d loss / d logp_t = -A * ratio / normalizer at completion tokens, 0 elsewhere
    grad = logprobs.grad
    assert grad is not None
    assert (grad[~mask] == 0).all()
    if loss_type == "grpo":
        assert grad[0, 0].item() == pytest.approx(-3 / 2 / 2) and grad[1, 0].item() == pytest.approx(1 / 4 / 2)


def test_clipping_hand_values() -> None:
    """ratio 1.5 and 0.5 against positive and negative advantages, ε = 0.2."""
    old = torch.zeros(4, 1)
    logprobs = torch.log(torch.tensor([[1.5], [1.5], [0.5], [0.5]])).requires_grad_(True)
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0])
    mask = torch.ones(4, 1, dtype=torch.bool)
    loss, stats = grpo_loss(logprobs, old, advantages, mask, epsilon=0.2, loss_type="dapo")
    # per token: -min(1.5, 1.2) = -1.2 (clipped); -min(-1.5, -1.2) = 1.5; -min(0.5, 0.8) = -0.5; -min(-0.5,-0.8) = 0.8
    assert loss.item() == pytest.approx((-1.2 + 1.5 - 0.5 + 0.8) / 4)
    assert stats["clip_fraction"].item() == pytest.approx(0.5)
    loss.backward()
    assert logprobs.grad is not None
    # clipped tokens carry no gradient; the others -A * ratio / 4
    assert logprobs.grad[:, 0].tolist() == pytest.approx([0.0, 1.5 / 4, -0.5 / 4, 0.0])


def test_clip_higher_widens_the_upper_range() -> None:
    logprobs = torch.log(torch.tensor([[1.25]]))
    loss, stats = grpo_loss(logprobs, torch.zeros(1, 1), torch.tensor([1.0]), torch.ones(1, 1, dtype=torch.bool),
                            epsilon=0.2, epsilon_high=0.28)  # fmt: skip
    assert loss.item() == pytest.approx(-1.25) and stats["clip_fraction"].item() == 0.0


def test_kl_term_and_importance_weights_enter_the_loss() -> None:
    logprobs = torch.log(torch.tensor([[0.5, 0.5]])).requires_grad_(True)
    ref = torch.log(torch.tensor([[0.25, 0.5]]))
    mask = torch.ones(1, 2, dtype=torch.bool)
    loss, stats = grpo_loss(
        logprobs,
        logprobs.detach(),
        torch.tensor([2.0]),
        mask,
        ref_logprobs=ref,
        kl_coef=0.1,
        importance_weights=torch.tensor([[3.0, 0.5]]),
        loss_type="dapo",
    )
    kl0 = 0.5 - math.log(0.5) - 1
    assert stats["kl"].item() == pytest.approx(kl0 / 2)
    assert loss.item() == pytest.approx(((-2 * 3.0 + 0.1 * kl0) + (-2 * 0.5)) / 2)
    assert stats["importance_weight"].item() == pytest.approx(1.75)
    with pytest.raises(ValueError, match="ref_logprobs"):
        grpo_loss(logprobs, logprobs.detach(), torch.tensor([2.0]), mask, kl_coef=0.1)


def test_equal_reward_group_gives_no_policy_gradient() -> None:
    rewards = torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])
    advantages = group_advantages(rewards).flatten()
    logprobs = torch.randn(6, 4).requires_grad_(True)
    mask = torch.ones(6, 4, dtype=torch.bool)
    loss, _ = grpo_loss(logprobs, logprobs.detach(), advantages, mask)
    loss.backward()
    assert logprobs.grad is not None
    assert (logprobs.grad[:3] == 0).all()
    assert (logprobs.grad[3:].abs().sum(-1) > 0).tolist() == [True, False, True]  # middle member has A = 0


def test_policy_loss_off_leaves_only_kl() -> None:
    logprobs = torch.randn(2, 3).requires_grad_(True)
    mask = torch.ones(2, 3, dtype=torch.bool)
    loss, _ = grpo_loss(logprobs, logprobs.detach(), torch.tensor([1.0, -1.0]), mask, policy_loss=False)
    loss.backward()
    assert loss.item() == 0.0 and logprobs.grad is not None and (logprobs.grad == 0).all()


def test_aggregate_rejects_unknown_type() -> None:
    with pytest.raises(ValueError, match="loss_type"):
        aggregate(torch.ones(1, 1), torch.ones(1, 1, dtype=torch.bool), "mean", 1)  # type: ignore[arg-type]


def test_completion_logprobs_match_a_full_forward(tiny_model_dir: Path) -> None:
    """Log-probs at completion positions only (chunked) equal log_softmax of the full logits at those positions."""
    model, _ = load_vlm(VLMLoader(name_or_path=str(tiny_model_dir), dtype="float32", attn_implementation="eager"))
    model.eval()
    torch.manual_seed(0)
    input_ids = torch.randint(10, 200, (2, 12))
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[0, 7:] = input_ids[0, 7:]
    labels[1, 4:9] = input_ids[1, 4:9]
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    with torch.no_grad():
        logprobs, entropy, mask = completion_logprobs(model, inputs, labels, temperature=0.7, chunk_tokens=3)
        full = torch.log_softmax(model(**inputs).logits.float() / 0.7, dim=-1)[:, :-1]  # [2, 11, vocab]
    expected = full.gather(-1, input_ids[:, 1:, None])[..., 0]
    assert mask.sum().item() == 5 + 5
    assert torch.allclose(logprobs[mask], expected[mask], atol=1e-5)
    assert (logprobs[~mask] == 0).all()
    full_entropy = -(full.exp() * full).sum(-1)
    assert torch.allclose(entropy[mask], full_entropy[mask], atol=1e-4)


def test_reference_is_the_base_with_adapters_off(tiny_model_dir: Path) -> None:
    """peft's disable_adapter gives the base model's log-probs: the KL reference without a second copy."""
    base, _ = load_vlm(VLMLoader(name_or_path=str(tiny_model_dir), dtype="float32", attn_implementation="eager"))
    lora, _ = load_vlm(
        VLMLoader(
            name_or_path=str(tiny_model_dir),
            dtype="float32",
            attn_implementation="eager",
            lora=LoraSettings(r=4, alpha=8, dropout=0.0),
        )
    )
    with torch.no_grad():
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)  # adapters that change the output
    base.eval(), lora.eval()
    input_ids = torch.randint(10, 200, (1, 10))
    labels = input_ids.clone()
    labels[:, :5] = IGNORE_INDEX
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    with torch.no_grad():
        base_lp, _, mask = completion_logprobs(base, inputs, labels)
        adapted_lp, _, _ = completion_logprobs(lora, inputs, labels)
        with lora.disable_adapter():
            ref_lp, _, _ = completion_logprobs(lora, inputs, labels)
    assert torch.allclose(ref_lp[mask], base_lp[mask], atol=1e-5)
    assert not torch.allclose(adapted_lp[mask], base_lp[mask], atol=1e-3)


def test_advantages_are_scaled_by_each_groups_own_std() -> None:
    """Two groups with different spreads: each is divided by its own std (0.57735 and 1.0), not the batch's."""
    rewards = torch.tensor([[1.0, 0.0, 0.0], [2.0, 1.0, 0.0]])
    advantages = group_advantages(rewards, "group", eps=0.0)
    assert advantages[0].tolist() == pytest.approx([2 / 3 / 0.57735, -1 / 3 / 0.57735, -1 / 3 / 0.57735], abs=1e-4)
    assert advantages[1].tolist() == pytest.approx([1.0, 0.0, -1.0], abs=1e-5)


def _hand_rollout(n_groups: int, n: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Right-padded text-only rows in the rollout layout: prompts of 3-5 tokens, completions of 2-5, padding after."""
    generator = torch.Generator().manual_seed(seed)
    rows = n_groups * n
    input_ids = torch.randint(10, 200, (rows, 12), generator=generator)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    attention = torch.zeros_like(input_ids)
    for row in range(rows):
        prompt = 3 + row % 3
        end = prompt + 2 + (row * 7) % 4
        labels[row, prompt:end] = input_ids[row, prompt:end]
        attention[row, :end] = 1
    return {"input_ids": input_ids, "attention_mask": attention}, labels


@pytest.mark.parametrize("lora", [True, False], ids=["lora", "full"])
def test_rollout_loss_equals_an_independent_computation(tiny_model_dir: Path, lora: bool) -> None:
    """``GRPOModule.rollout_loss`` against the formula evaluated from the full logits: per-group advantages on the
    completion tokens only, k3 KL to the *starting* weights (adapters off / the frozen copy), importance weights of an
    exact engine equal to 1. The policy is moved off its start first, so the KL is not trivially 0. Loss value, KL and
    the gradient of every trainable parameter must agree."""
    temperature, kl_coef = 0.7, 0.5
    settings = LoraSettings(r=4, alpha=8, dropout=0.0) if lora else None
    loader = VLMLoader(str(tiny_model_dir), dtype="float32", attn_implementation="eager", lora=settings)
    module = GRPOModule(loader, kl_coef=kl_coef, loss_type="grpo", importance_sampling="token_truncate")
    module.configure_model()
    policy = module.vlm.eval()  # eval: no dropout; gradients flow all the same
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in policy.named_parameters():
            if param.requires_grad and (not lora or "lora_B" in name):
                param.add_(torch.randn_like(param) * (0.3 if lora else 0.02))
    start, _ = load_vlm(VLMLoader(str(tiny_model_dir), dtype="float32", attn_implementation="eager"))
    start.eval()

    inputs, labels = _hand_rollout(n_groups=2, n=3, seed=1)
    rewards = torch.tensor([[1.0, 0.0, 0.0], [2.0, 1.0, 0.0]])  # different spreads: per-group std matters
    targets = inputs["input_ids"][:, 1:, None]
    mask = labels[:, 1:] != IGNORE_INDEX  # [6, 11]: position t predicts token t + 1
    with torch.no_grad():
        ref = torch.log_softmax(start(**inputs).logits.float() / temperature, -1)[:, :-1].gather(-1, targets)[..., 0]
        exact = torch.log_softmax(policy(**inputs).logits.float() / temperature, -1)[:, :-1].gather(-1, targets)[..., 0]
    engine_logprobs = torch.full(labels.shape, float("nan"))  # aligned with labels: entry t is token t's log-prob
    engine_logprobs[:, 1:][mask] = exact[mask]
    rollout = RolloutBatch(inputs, labels, rewards, engine_logprobs, temperature)

    trainable = [p for p in policy.parameters() if p.requires_grad]
    loss, stats = module.rollout_loss(rollout)
    loss.backward()
    got = [None if p.grad is None else p.grad.clone() for p in trainable]  # text-only rows: no vision gradient
    policy.zero_grad()

    mean, std = rewards.mean(1, keepdim=True), rewards.std(1, keepdim=True)
    advantages = ((rewards - mean) / (std + 1e-4)).flatten()[:, None]  # [6, 1]
    logp = torch.log_softmax(policy(**inputs).logits.float() / temperature, -1)[:, :-1].gather(-1, targets)[..., 0]
    kl = torch.exp(ref - logp) - (ref - logp) - 1  # [6, 11]
    per_token = -advantages * torch.exp(logp - logp.detach()) + kl_coef * kl
    expected = ((per_token * mask).sum(1) / mask.sum(1)).mean()
    expected.backward()

    assert float(stats["importance_weight"]) == pytest.approx(1.0, abs=1e-4)
    expected_kl = float((kl * mask).sum() / mask.sum())
    assert expected_kl > 1e-3, "the policy did not move off its start: the KL check would be vacuous"
    assert float(stats["kl"]) == pytest.approx(expected_kl, rel=1e-3)
    assert float(loss) == pytest.approx(float(expected), rel=1e-4, abs=1e-6)
    assert sum(g is not None for g in got) > 0
    for p, g in zip(trainable, got, strict=True):
        assert (g is None) == (p.grad is None)
        if g is not None:
            torch.testing.assert_close(g, p.grad, rtol=1e-3, atol=1e-6)
