"""The TRL adapter: completions rendered in the pool and scored against dataset reference images; and one real
GRPOTrainer step with it (slow)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from src.data.perturb import perturbations
from src.data.seeds import seed_functions
from src.render import RenderJob, RenderPool
from src.reward.baselines import RenderSuccessReward
from src.reward.judge import VisualERMJudge
from src.reward.pair import PairError, load_reference
from src.reward.reward import RewardConfig
from src.reward.trl_reward import RenderedReward, completion_text
from tests.reward.conftest import ScriptedEngine

PUBLIC = RewardConfig(normalization="fixed", fixed_scale=50.0)


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    with RenderPool(workers=2) as pool:
        yield pool


@pytest.fixture(scope="module")
def chart(pool: RenderPool) -> tuple[str, str, Image.Image]:
    """A seed chart's source, a perturbed source (one bar value changed) and the reference render."""
    seeds = seed_functions("chart")
    spec = seeds.make_seed(random.Random(3))
    changed = perturbations("chart")["data_value"](spec, random.Random(1))
    assert changed is not None
    source = seeds.source(spec)
    (reference,) = pool.render([RenderJob("chart", source)])
    assert reference.ok and reference.png is not None
    return source, seeds.source(changed.spec), load_reference(reference.png)


def test_completions_are_rendered_and_judged_against_the_dataset_reference(pool: RenderPool, chart) -> None:  # type: ignore[no-untyped-def]
    source, perturbed, reference = chart
    engine = ScriptedEngine()
    reward = RenderedReward(VisualERMJudge(engine, reward=PUBLIC), pool)
    completions = [
        "```python\n" + source + "\n```",  # exact code, fenced
        [{"role": "assistant", "content": "Here you go:\n```python\n" + perturbed + "```"}],  # conversational
        "I cannot draw this chart.",  # no code: never judged
    ]
    metrics: dict[str, float] = {}
    extra: dict[str, list] = {}
    rewards = reward(
        prompts=["p"] * 3,
        completions=completions,
        image=[reference] * 3,
        domain=["chart"] * 3,
        log_metric=metrics.__setitem__,
        log_extra=extra.__setitem__,
    )
    assert rewards[0] == 2.0  # pixel-identical render: the critic found nothing
    assert 1.0 <= rewards[1] < 2.0  # a changed bar: some quarters differ
    assert rewards[2] == 0.0
    assert len(engine.requests) == 2
    assert metrics == {"visual_erm/parse_rate": 1.0, "visual_erm/render_rate": pytest.approx(2 / 3)}
    assert extra["severity"][0] == 0.0 and extra["severity"][1] > 0 and extra["severity"][2] is None
    assert extra["render_error"] == [None, None, "no_code"]


def test_rows_group_by_reference_for_group_normalization(pool: RenderPool, chart) -> None:  # type: ignore[no-untyped-def]
    source, perturbed, reference = chart
    other_reference = Image.new("RGB", reference.size, "white")
    other_reference.paste(reference.crop((0, 0, 50, 50)))
    reward = RenderedReward(RenderSuccessReward(), pool, domain="chart")
    pairs = reward.pairs([source, perturbed, source], {"image": [reference, other_reference, reference.copy()]})
    assert pairs[0].group == pairs[2].group != pairs[1].group  # same pixels, different objects: one group
    assert [p.candidate_source for p in pairs] == [source, perturbed, source]


def test_references_in_every_dataset_form(pool: RenderPool, chart, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, _, reference = chart
    path = tmp_path / "ref.png"
    reference.save(path)
    forms = [reference, path.read_bytes(), str(path), {"bytes": None, "path": str(path)}, [reference]]
    reward = RenderedReward(RenderSuccessReward(), pool, domain="chart")
    pairs = reward.pairs([source] * len(forms), {"image": forms})
    assert len({p.group for p in pairs}) == 1


def test_bad_rows_are_typed_errors(pool: RenderPool, chart) -> None:  # type: ignore[no-untyped-def]
    source, _, reference = chart
    reward = RenderedReward(RenderSuccessReward(), pool)
    with pytest.raises(PairError, match="column 'domain' is missing"):
        reward(prompts=["p"], completions=[source], image=[reference])
    with pytest.raises(PairError, match="'slides' is not one of"):
        reward(prompts=["p"], completions=[source], image=[reference], domain=["slides"])
    with pytest.raises(PairError, match="reference image 0: reference: not a readable image"):
        reward(prompts=["p"], completions=[source], image=[b"junk"], domain=["chart"])
    with pytest.raises(PairError, match="has 1 values for 2 completions"):
        reward(prompts=["p", "q"], completions=[source, source], image=[reference], domain=["chart"])
    with pytest.raises(PairError, match="expected a string or a list of messages"):
        completion_text(42)


@pytest.mark.slow
def test_grpo_trainer_takes_a_step_with_the_judge_reward(
    tiny_model_dir: Path, pool: RenderPool, chart, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText
    from trl import GRPOConfig, GRPOTrainer

    from src.models.processor import load_processor

    _, _, reference = chart
    engine = ScriptedEngine()
    judge_reward = RenderedReward(VisualERMJudge(engine, reward=PUBLIC), pool)
    prompt = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Write matplotlib code."}]}]
    dataset = Dataset.from_dict({"prompt": [prompt] * 2, "image": [reference] * 2, "domain": ["chart"] * 2})
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        max_steps=1,
        use_cpu=True,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        bf16=False,
    )
    trainer = GRPOTrainer(
        model=AutoModelForImageTextToText.from_pretrained(tiny_model_dir),
        reward_funcs=[judge_reward],
        args=args,
        train_dataset=dataset,
        processing_class=load_processor(tiny_model_dir),
    )
    trainer.train()

    assert trainer.state.global_step == 1
    logged = trainer.state.log_history[0]
    # A random 8-token policy writes no renderable code: every reward is 0 and no critique was asked for.
    assert logged["rewards/visual_erm/mean"] == 0.0  # TRL names the column after RenderedReward.__name__
    assert logged["visual_erm/render_rate"] == 0.0
    assert engine.requests == []
