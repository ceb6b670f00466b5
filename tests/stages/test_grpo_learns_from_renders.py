"""GRPO moves the policy toward the answer whose *render* matches the reference.

A tiny policy is taught two answers to one reference image, a red square and a blue square, about equally likely;
the reward is 1 − pixel MSE between each rollout's render and the reference (red). Through the real Trainer,
RolloutCallback, HFEngine and render pool, a few GRPO steps must raise the probability of the red answer, and the
same steps with the reward negated must lower it. The two answers have the same length and differ only in their
colour, so nothing but the reward read from the renders can tell them apart: a reward given to another completion
(reversed in a group, a neighbour's render), a flipped policy-gradient sign, a shifted completion mask or an engine
that never receives the new weights leaves the red answer no likelier, and the test fails.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image

from src.data.collate import answer_suffix, encode_answer, encode_prompt, pad_id_of, pad_token_batch, training_sample
from src.data.prompts import build_policy_messages, fenced_answer
from src.data.vision_to_code_datamodule import VisionToCodeDataModule
from src.engines.engine import SamplingSettings
from src.models.loading import VLMLoader
from src.models.processor import load_processor
from src.render.pool import RenderPool
from src.reward.baselines.pixel import PixelMSEReward
from src.reward.pair import RewardPair
from src.stages.grpo import GRPOModule
from src.stages.grpo_rollout import RolloutCallback
from src.stages.sft import answer_token_loss
from src.testing.tiny_policy import teach_tiny_svg_policy

SIDE = 64
# A 40 px square on a white 64 px canvas (a single flat colour is a failed, blank render), red or blue.
RED = f'<svg width="{SIDE}" height="{SIDE}"><rect x="12" y="12" width="40" height="40" fill="red"/></svg>'
BLUE = f'<svg width="{SIDE}" height="{SIDE}"><rect x="12" y="12" width="40" height="40" fill="blue"/></svg>'
STEPS = 4
SEEDS = (0, 1)
Reward = Callable[[Sequence[RewardPair]], list[float]]


def closer_render_is_better(pairs: Sequence[RewardPair]) -> list[float]:
    return PixelMSEReward(max_side=SIDE)(pairs)


def farther_render_is_better(pairs: Sequence[RewardPair]) -> list[float]:
    return [-r for r in closer_render_is_better(pairs)]


@pytest.fixture(scope="module")
def red_prompt(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, Path, Image.Image]:
    """The taught policy, a prompt file of the red reference (twice: two prompts a step) and the image itself."""
    root = tmp_path_factory.mktemp("red")
    image = Image.new("RGB", (SIDE, SIDE), "white")
    image.paste((255, 0, 0), (12, 12, 52, 52))
    rows = []
    for i in range(2):  # one prompt per distinct image file: two copies make two prompts a step
        image.save(root / f"red{i}.png")
        rows.append({"id": f"red-{i}", "image": f"red{i}.png", "domain": "svg", "code": RED})
    (root / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    answers = [fenced_answer("svg", RED), fenced_answer("svg", BLUE)]
    policy = teach_tiny_svg_policy(tiny_model_dir, root / "policy", steps=100, answers=answers, image=image)
    return policy, root / "prompts.jsonl", image


@pytest.fixture(scope="module")
def render_pool():
    with RenderPool(workers=1, timeout_s=10) as pool:
        yield pool


@torch.no_grad()
def red_share(model: torch.nn.Module, processor, image: Image.Image) -> float:
    """P(red answer) / (P(red answer) + P(blue answer)), exactly, from the answers' summed token log-probs."""
    model.eval()
    prompt = encode_prompt(processor, build_policy_messages("svg", image), [image])
    suffix = answer_suffix(processor)
    log_probs = []
    for answer in (RED, BLUE):
        row = training_sample(prompt, encode_answer(processor, fenced_answer("svg", answer), suffix), 512, "svg")
        inputs = pad_token_batch([row], pad_id_of(processor), side="right", with_labels=True)
        labels = inputs.pop("labels")
        count = int((labels[:, 1:] != -100).sum())
        log_probs.append(-float(answer_token_loss(model, inputs, labels)) * count)
    return 1.0 / (1.0 + math.exp(log_probs[1] - log_probs[0]))


def _train(policy: Path, prompts: Path, image: Image.Image, reward: Reward, seed: int, root: Path, pool: RenderPool):
    """(red share before, red share after) ``STEPS`` GRPO steps with ``reward``."""
    L.seed_everything(seed)
    module = GRPOModule(
        VLMLoader(str(policy), dtype="float32", attn_implementation="sdpa", max_pixels=SIDE * SIDE),
        lr=1e-3,
        kl_coef=0.0,
        importance_sampling="none",
        max_completion_tokens=96,
    )
    data = VisionToCodeDataModule(
        data_dir=None, train_jsonl=[str(prompts)], domains=["svg"], batch_size=2, num_workers=0, seed=seed,
        max_image_side=SIDE,
    )  # fmt: skip
    rollout = RolloutCallback(
        reward=reward,
        render_pool=pool,
        n=8,
        sampling=SamplingSettings(temperature=1.0, max_new_tokens=96, seed=seed),  # each call seeded from it
        log_samples=0,
    )
    rollout._shutdown = lambda: None  # type: ignore[method-assign]  # the module-scoped pool serves every run
    trainer = L.Trainer(
        accelerator="cpu", max_steps=STEPS, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=str(root), callbacks=[rollout],
    )  # fmt: skip
    processor = load_processor(policy)
    module.configure_model()
    before = red_share(module.model, processor, image)
    trainer.fit(module, datamodule=data)
    assert rollout.engine is not None and rollout.engine.weights_version == STEPS
    return before, red_share(module.model, processor, image)


def test_the_answer_whose_render_matches_the_reference_becomes_likelier(
    red_prompt: tuple[Path, Path, Image.Image], tmp_path: Path, render_pool: RenderPool
) -> None:
    torch.set_num_threads(2)
    policy, prompts, image = red_prompt
    runs = {
        name: [_train(policy, prompts, image, reward, seed, tmp_path / f"{name}{seed}", render_pool) for seed in SEEDS]
        for name, reward in (("closer", closer_render_is_better), ("farther", farther_render_is_better))
    }
    start = statistics.fmean(before for before, _ in runs["closer"])
    assert 0.2 < start < 0.8, f"the taught policy should hesitate between the two answers: P(red) {start:.2f}"
    rise = statistics.fmean(after - before for before, after in runs["closer"])
    fall = statistics.fmean(before - after for before, after in runs["farther"])
    assert rise > 0.15, f"P(red) did not rise with the render reward: {runs['closer']}"
    assert fall > 0.15, f"P(red) did not fall with the negated reward: {runs['farther']}"
