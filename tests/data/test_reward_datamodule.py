"""RewardModelDataModule: batches the tiny Qwen3-VL trains on, answer-only labels, seeded length-aware sampling,
mid-epoch resume without repeats, corrupt rows by file and line."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch

from src.data.reward_datamodule import RewardModelDataModule, critic_target
from src.data.sampling import LengthBucketBatchSampler


def make_dm(data_dir: Path, processor: Any, **kwargs: Any) -> RewardModelDataModule:
    kwargs = {"batch_size": 3, "num_workers": 0, "seed": 7, **kwargs}
    dm = RewardModelDataModule(data_dir=str(data_dir), **kwargs)
    dm.prepare_data()
    dm.setup("fit")
    dm.connect(processor)
    return dm


def test_batch_runs_forward_on_tiny_qwen3_vl_with_answer_only_labels(pair_shards, tiny_processor, tiny_vlm) -> None:
    dm = make_dm(pair_shards, tiny_processor)
    batch = next(iter(dm.train_dataloader()))
    inputs, labels = batch["model_inputs"], batch["labels"]
    assert {"input_ids", "attention_mask", "pixel_values", "image_grid_thw"} <= set(inputs)
    assert "prompt_inputs" not in batch
    assert labels.shape == inputs["input_ids"].shape and labels.dtype == torch.long
    assert inputs["image_grid_thw"].shape[0] == 2 * len(batch["targets"])  # reference + candidate per pair
    with torch.no_grad():
        loss = tiny_vlm(**inputs, labels=labels).loss
    assert torch.isfinite(loss)

    end_of_turn = tiny_processor.tokenizer.eos_token  # Qwen: <|im_end|>
    image_pad = tiny_processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for row, target in enumerate(batch["targets"]):
        mask = labels[row] != -100
        answer = tiny_processor.tokenizer.decode(inputs["input_ids"][row][mask])
        assert answer == target + end_of_turn
        json.loads(target)
        assert torch.equal(labels[row][mask], inputs["input_ids"][row][mask])
        # labelled tokens are one contiguous run at the end of the real tokens: the prompt (and images) never are
        positions = mask.nonzero().flatten()
        assert positions.max() - positions.min() + 1 == mask.sum()
        assert positions.max() + 1 == inputs["attention_mask"][row].sum()
        assert not (inputs["input_ids"][row][mask] == image_pad).any()


def test_validation_batch_has_left_padded_prompts_equal_to_the_training_prefix(pair_shards, tiny_processor) -> None:
    dm = make_dm(pair_shards, tiny_processor, val_batch_size=4)
    batch = next(iter(dm.val_dataloader()))
    prompts, full, labels = batch["prompt_inputs"], batch["model_inputs"], batch["labels"]
    assert torch.equal(prompts["pixel_values"], full["pixel_values"])
    for row in range(len(batch["targets"])):
        real = prompts["attention_mask"][row].bool()
        assert real[-1], "prompts must be left-padded: the last position is a real token"
        prompt_ids = prompts["input_ids"][row][real]
        n = prompt_ids.shape[0]
        assert torch.equal(full["input_ids"][row][:n], prompt_ids)
        assert (labels[row][:n] == -100).all() and labels[row][n] != -100


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packed_batches_train_exactly_like_padded_ones(pair_shards, tiny_processor, tiny_model_dir, attn) -> None:
    """Padding-free batches must give the padded batch's loss and gradients: no attention across samples, every
    sample positioned as if alone, the same answer tokens scored."""
    from src.models.loading import LoraSettings, VLMLoader, load_vlm_model
    from src.stages.sft import answer_token_loss, tokens_in_batch

    padded_batch = next(iter(make_dm(pair_shards, tiny_processor).train_dataloader()))
    packed_batch = next(iter(make_dm(pair_shards, tiny_processor, packing=True).train_dataloader()))
    assert packed_batch["ids"] == padded_batch["ids"]
    inputs, packing = packed_batch["model_inputs"], packed_batch["packing"]
    real_tokens = int(padded_batch["model_inputs"]["attention_mask"].sum())
    assert inputs["input_ids"].shape == packed_batch["labels"].shape == (1, real_tokens)  # no padding left
    assert "attention_mask" not in inputs
    assert packing["seq_lens"].tolist() == padded_batch["model_inputs"]["attention_mask"].sum(1).tolist()
    assert packing["images_per_seq"].tolist() == [2] * len(packed_batch["ids"])
    assert torch.equal(inputs["pixel_values"], padded_batch["model_inputs"]["pixel_values"])
    assert tokens_in_batch(packed_batch) == tokens_in_batch(padded_batch) == real_tokens  # throughput counts alike

    torch.manual_seed(0)
    loader = VLMLoader(
        name_or_path=str(tiny_model_dir), dtype="float32", attn_implementation=attn, lora=LoraSettings(dropout=0.0)
    )
    model = load_vlm_model(loader)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero; make the adapters part of the forward
            param.data.normal_(0.0, 0.05)
    grads = []
    for batch in (padded_batch, packed_batch):
        model.zero_grad()
        loss = answer_token_loss(model, batch["model_inputs"], batch["labels"], batch.get("packing"))
        loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]))
    (padded_loss, padded_grads), (packed_loss, packed_grads) = grads
    torch.testing.assert_close(packed_loss, padded_loss, rtol=1e-5, atol=1e-6)
    for a, b in zip(packed_grads, padded_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def _epoch_ids(loader) -> list[str]:
    return [i for batch in loader for i in batch["ids"]]


def test_shuffling_is_seeded_per_epoch(pair_shards, tiny_processor) -> None:
    a = make_dm(pair_shards, tiny_processor)
    b = make_dm(pair_shards, tiny_processor)
    loader_a, loader_b = a.train_dataloader(), b.train_dataloader()
    first = _epoch_ids(loader_a)
    assert first == _epoch_ids(loader_b)
    assert sorted(first) == sorted(p.id for p in a.train_pairs)
    loader_a.batch_sampler.set_epoch(1)
    assert _epoch_ids(loader_a) != first
    c = make_dm(pair_shards, tiny_processor, seed=8)
    assert _epoch_ids(c.train_dataloader()) != first


def test_resume_mid_epoch_sees_every_pair_once(pair_shards, tiny_processor) -> None:
    dm = make_dm(pair_shards, tiny_processor)
    loader = dm.train_dataloader()
    loader.batch_sampler.set_epoch(2)
    uninterrupted = _epoch_ids(loader)

    killed = make_dm(pair_shards, tiny_processor)
    loader = killed.train_dataloader()
    loader.batch_sampler.set_epoch(2)
    it = iter(loader)
    seen = [i for _ in range(2) for i in next(it)["ids"]]
    state = killed.state_dict()
    assert state == {"epoch": 2, "batches_done": 2}

    resumed = make_dm(pair_shards, tiny_processor)
    resumed.load_state_dict(state)
    loader = resumed.train_dataloader()
    assert len(loader) == len(uninterrupted) // 3  # the epoch's full length: Lightning counts from batches_done
    loader.batch_sampler.set_epoch(2)  # what Lightning does at the start of the resumed epoch
    rest = _epoch_ids(loader)
    assert len(seen) + len(rest) == len(set(seen) | set(rest)) == len(uninterrupted)
    assert seen + rest == uninterrupted
    loader.batch_sampler.set_epoch(3)  # the skip applies to the resumed epoch only
    assert len(_epoch_ids(loader)) == len(uninterrupted)


def test_state_dict_follows_the_trainer_progress(pair_shards, tiny_processor) -> None:
    class Progress:
        processed = 5

    class Trainer:
        current_epoch = 1
        global_rank, world_size = 0, 1
        fit_loop = type(
            "FitLoop",
            (),
            {"epoch_loop": type("EpochLoop", (), {"batch_progress": type("BP", (), {"current": Progress})})},
        )

    dm = make_dm(pair_shards, tiny_processor)
    dm.trainer = Trainer()
    assert dm.state_dict() == {"epoch": 1, "batches_done": 5}
    with pytest.raises(ValueError, match="batches_done"):
        dm.load_state_dict({"epoch": 1})


def test_length_bucketing_keeps_padding_small() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(300, 3000, size=2000)

    def padding(batches: list[list[int]]) -> float:
        real = sum(int(lengths[b].sum()) for b in batches)
        padded = sum(int(lengths[b].max()) * len(b) for b in batches)
        return 1 - real / padded

    bucketed = LengthBucketBatchSampler(lengths, batch_size=8, seed=0)
    random_batches = [list(b) for b in np.array_split(rng.permutation(2000), 250)]
    assert padding(bucketed.epoch_batches(0)) < 0.02 < 0.25 < padding(random_batches)
    assert sorted(i for b in bucketed.epoch_batches(0) for i in b) == list(range(2000))


def test_ranks_split_an_epoch_into_disjoint_equal_shares() -> None:
    lengths = list(range(103))
    shares = [LengthBucketBatchSampler(lengths, 4, seed=3, rank=r, world_size=3).epoch_batches(5) for r in range(3)]
    assert len({len(s) for s in shares}) == 1
    flat = [i for s in shares for b in s for i in b]
    assert set(flat) == set(range(103))


def test_train_jsonl_in_either_layout_and_corrupt_rows(pair_shards, tiny_processor, tmp_path) -> None:
    shards = tmp_path / "shards"
    shutil.copytree(pair_shards, shards)
    lines = (shards / "train.jsonl").read_text().splitlines()
    lines[2] = lines[2][:30]
    (shards / "train.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=rf"{shards / 'train.jsonl'}:3: bad JSON"):
        dm = make_dm(shards, tiny_processor, train_jsonl=[str(shards / "bench.jsonl"), str(shards / "val.jsonl")])
    assert len(dm.corrupt_rows) == 1 and dm.corrupt_rows[0].line_no == 3
    val_rows = len((shards / "val.jsonl").read_text().splitlines())
    assert val_rows > 0 and len(dm.train_pairs) == 17 + 3 + val_rows  # the benchmark's layout and ours
    with pytest.raises(ValueError, match=r"train.jsonl:3: bad JSON"):
        make_dm(shards, tiny_processor, on_corrupt="raise")


def test_truncated_png_is_skipped_or_fatal_by_config(pair_shards, tiny_processor, tmp_path) -> None:
    shards = tmp_path / "shards"
    shutil.copytree(pair_shards, shards)
    row = json.loads((shards / "train.jsonl").read_text().splitlines()[0])
    image = shards / row["reference_image"]
    image.write_bytes(image.read_bytes()[:120])  # header intact, pixel data cut: only decoding finds it
    dm = make_dm(shards, tiny_processor, batch_size=64)
    with pytest.warns(UserWarning, match=r"train.jsonl:1: .*"):
        (batch,) = list(dm.train_dataloader())
    assert row["id"] not in batch["ids"] and len(batch["ids"]) == len(dm.train_pairs) - 1
    strict = make_dm(shards, tiny_processor, batch_size=64, on_corrupt="raise")
    with pytest.raises(ValueError, match=r"train.jsonl:1: "):
        list(strict.train_dataloader())


def test_needs_connect_and_existing_data(pair_shards, tmp_path) -> None:
    dm = RewardModelDataModule(data_dir=str(pair_shards), num_workers=0)
    dm.setup("fit")
    with pytest.raises(RuntimeError, match=r"connect\(processor\)"):
        dm.train_dataloader()
    empty = RewardModelDataModule(data_dir=str(tmp_path / "nothing"), num_workers=0)
    with pytest.raises(FileNotFoundError, match="synthesize_if_missing"):
        empty.setup("fit")


def test_num_workers_give_the_same_batches(pair_shards, tiny_processor) -> None:
    inline = make_dm(pair_shards, tiny_processor)
    workers = make_dm(pair_shards, tiny_processor, num_workers=2)
    for a, b in zip(inline.train_dataloader(), workers.train_dataloader(), strict=True):
        assert a["ids"] == b["ids"]
        assert torch.equal(a["model_inputs"]["input_ids"], b["model_inputs"]["input_ids"])


class _Killed(Exception):
    pass


class _IdRecorder(L.LightningModule):
    """Trains one scalar on the batch and records which pairs each step saw; fails once at ``fail_at``."""

    def __init__(self, processor: Any, fail_at: int | None = None) -> None:
        super().__init__()
        self.processor, self.fail_at = processor, fail_at
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[str] = []

    def setup(self, stage: str) -> None:
        self.trainer.datamodule.connect(self.processor)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        if self.fail_at is not None and self.global_step == self.fail_at:
            raise _Killed  # the kill, after the checkpoint of the previous step was written
        self.seen += batch["ids"]
        return (self.weight - batch["labels"].ne(-100).float().mean()) ** 2

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_trainer_resume_from_last_checkpoint_sees_no_pair_twice(pair_shards, tiny_processor, tmp_path) -> None:
    def fit(module: _IdRecorder, ckpt_path: str | None) -> None:
        checkpoint = L.pytorch.callbacks.ModelCheckpoint(tmp_path, save_last=True, every_n_train_steps=1, save_top_k=-1)
        trainer = L.Trainer(
            max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[checkpoint]
        )
        dm = RewardModelDataModule(data_dir=str(pair_shards), batch_size=2, num_workers=2, seed=5, val_split=None)
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)

    killed = _IdRecorder(tiny_processor, fail_at=4)
    with pytest.raises(_Killed):
        fit(killed, None)
    assert len(killed.seen) == 8
    resumed = _IdRecorder(tiny_processor)
    fit(resumed, str(tmp_path / "last.ckpt"))
    assert len(killed.seen) + len(resumed.seen) == len(set(killed.seen) | set(resumed.seen)) == 18


def test_generation_subset_is_seeded_and_spans_the_length_range() -> None:
    from src.data.sampling import length_stratified_subset

    lengths = [(i * 37) % 100 for i in range(100)]  # 0..99, shuffled
    subset = length_stratified_subset(lengths, 5, seed=0)
    assert subset == length_stratified_subset(lengths, 5, seed=0)
    assert sorted(lengths[i] // 20 for i in subset) == [0, 1, 2, 3, 4]  # one pair from each fifth of the lengths
    assert any(length_stratified_subset(lengths, 5, seed=s) != subset for s in range(1, 5))
    assert length_stratified_subset(lengths, 500, seed=0) == list(range(100))


def test_validation_generates_on_a_stratified_subset_not_the_shortest_pairs(pair_shards, tiny_processor) -> None:
    """The generation batches come first and hold the seeded subset, long pairs included, not the shortest ones."""
    dm = make_dm(pair_shards, tiny_processor, val_batch_size=2, val_generate_pairs=2)
    lengths = dm.length_estimates(dm.val_pairs)
    chosen = {dm.val_pairs[i].id for i in dm.generation_subset(lengths)}
    batches = list(dm.val_dataloader())
    generating = [b for b in batches if "prompt_inputs" in b]
    assert generating == batches[: len(generating)] and len(generating) == 1
    assert set(generating[0]["ids"]) == chosen
    by_length = sorted(range(len(lengths)), key=lambda i: lengths[i])
    shortest = {dm.val_pairs[i].id for i in by_length[:2]}
    assert (
        chosen != shortest
        and max(lengths[i] for i in dm.generation_subset(lengths)) > sorted(lengths)[len(lengths) // 2]
    )
    assert {i for b in batches for i in b["ids"]} == {p.id for p in dm.val_pairs}  # the loss still sees every pair


def test_every_rank_generates_on_the_same_number_of_batches() -> None:
    from src.data.sampling import ValidationBatchSampler

    lengths = list(range(23))
    generate = [1, 5, 9, 14, 20]
    shares = [ValidationBatchSampler(lengths, 2, generate, rank=r, world_size=2) for r in range(2)]
    assert shares[0].generate_batches == shares[1].generate_batches == 2  # 3 batches of the subset, padded to 4
    assert len(shares[0]) == len(shares[1])
    for share in shares:
        assert all(set(b) <= set(generate) for b in share.batches[: share.generate_batches])
        assert not any(set(b) & set(generate) for b in share.batches[share.generate_batches :])
    assert {i for s in shares for b in s.batches for i in b} == set(range(23))


def test_answers_longer_than_the_budget_are_dropped_and_counted_not_cut(pair_shards, tiny_processor) -> None:
    from src.data.collate import AnswerTooLong

    dm = make_dm(pair_shards, tiny_processor, batch_size=64)
    (full,) = list(dm.train_dataloader())
    answer_lengths = (full["labels"] != -100).sum(dim=1)
    prompt_lengths = full["model_inputs"]["attention_mask"].sum(dim=1) - answer_lengths
    budget = int((prompt_lengths + answer_lengths).float().median())  # about half the pairs do not fit
    tight = make_dm(pair_shards, tiny_processor, batch_size=64, max_length=budget)
    with pytest.warns(UserWarning, match="dropping pair .* exceed max_length"):
        (batch,) = list(tight.train_dataloader())
    too_long = int(((prompt_lengths + answer_lengths) > budget).sum())
    assert too_long > 0 and batch["skipped"]["answer_too_long"] == too_long
    assert len(batch["ids"]) == len(full["ids"]) - too_long
    end_of_turn = tiny_processor.tokenizer.eos_token
    for row, target in enumerate(batch["targets"]):  # what is kept is whole: the answer and its end-of-turn token
        answer = tiny_processor.tokenizer.decode(batch["model_inputs"]["input_ids"][row][batch["labels"][row] != -100])
        assert answer == target + end_of_turn
    strict = make_dm(pair_shards, tiny_processor, batch_size=64, max_length=budget, on_answer_too_long="raise")
    with pytest.raises(AnswerTooLong):
        list(strict.train_dataloader())


def test_a_batch_of_only_corrupt_rows_is_an_empty_batch_with_counts(pair_shards, tiny_processor, tmp_path) -> None:
    shards = tmp_path / "shards"
    shutil.copytree(pair_shards, shards)
    for png in (shards / "images").rglob("*.png"):
        png.write_bytes(png.read_bytes()[:120])
    dm = make_dm(shards, tiny_processor, batch_size=4)
    with pytest.warns(UserWarning, match="skipping corrupt pair"):
        batch = next(iter(dm.train_dataloader()))
    assert batch["ids"] == [] and batch["skipped"] == {"corrupt": 4, "answer_too_long": 0}


def test_transcription_samples_ask_for_both_codes(tmp_path) -> None:
    from src.data.synthesis import SynthesisConfig, synthesize
    from src.models.processor import load_processor
    from src.models.tiny import build_tiny_qwen3_vl

    synthesize(tmp_path / "data", SynthesisConfig(domains=("svg",), n_per_domain=16, seed_family="mini", workers=1),
               progress=False)  # fmt: skip
    processor = load_processor(build_tiny_qwen3_vl(tmp_path / "model"))
    dm = RewardModelDataModule(data_dir=str(tmp_path / "data"), val_split=None, batch_size=4, num_workers=0,
                               max_length=2048, max_image_side=128, transcribe_share=0.5)  # fmt: skip
    dm.setup("fit")
    dm.connect(processor)
    transcribe = dm.transcription_indices()
    assert len(transcribe) == round(0.5 * len(dm.train_pairs)) and transcribe == dm.transcription_indices()
    loader = dm.train_dataloader()
    dataset = loader.dataset
    assert len(dataset) == len(dm.train_pairs) + len(transcribe)
    pair = dm.train_pairs[transcribe[0]]
    sample = dataset[len(dm.train_pairs)]
    answer = processor.tokenizer.decode(sample["labels"][sample["labels"] != -100])
    assert answer.startswith(f"```svg\n{pair.reference_source.strip()}\n```\n```svg\n{pair.candidate_source.strip()}")
    assert sum(len(b["ids"]) for b in loader) == len(dataset)  # every sample, critiques and transcriptions, is drawn


def first_labelled_sample(tmp_path, kinds: tuple[str, ...] = (), **data_args):  # type: ignore[no-untyped-def]
    """A reading critic's training data on a few mini pairs: (processor, first pair with errors, its sample, its
    answer text without the end-of-turn token)."""
    from src.data.synthesis import SynthesisConfig, synthesize
    from src.models.processor import load_processor
    from src.models.tiny import build_tiny_qwen3_vl

    config = SynthesisConfig(domains=("svg",), n_per_domain=24, seed_family="mini", workers=1, perturbation_kinds=kinds)
    synthesize(tmp_path / "data", config, progress=False)
    processor = load_processor(build_tiny_qwen3_vl(tmp_path / "model"))
    dm = RewardModelDataModule(data_dir=str(tmp_path / "data"), val_split=None, batch_size=4, num_workers=0,
                               max_length=2048, max_image_side=128, transcribe_first=True, **data_args)  # fmt: skip
    dm.setup("fit")
    dm.connect(processor)
    dataset = dm.train_dataloader().dataset
    index = next(i for i, p in enumerate(dataset.pairs) if p.critique.errors)
    pair, sample = dataset.pairs[index], dataset[index]
    answer = processor.tokenizer.decode(sample["labels"][sample["labels"] != -100])
    return processor, pair, sample, answer.removesuffix(processor.tokenizer.eos_token)


def test_transcribe_first_writes_both_codes_in_a_think_block_before_a_critique_every_reader_takes(tmp_path) -> None:
    from src.reward.parse import parse_critique

    _, pair, sample, answer = first_labelled_sample(tmp_path)
    reading = f"```svg\n{pair.reference_source.strip()}\n```\n```svg\n{pair.candidate_source.strip()}\n```"
    assert answer.startswith(f"<think>\n{reading}\n</think>\n")
    assert parse_critique(answer, "svg") == pair.critique  # the reader drops the block
    assert sample["target"] == pair.target  # validation still compares critiques
    without = replace(pair, candidate_source=None)
    with pytest.raises(ValueError, match="no source code"):
        critic_target(without, transcribe_first=True)
    assert critic_target(without) == pair.critique.to_json()
    # a rewrite its label finds nothing wrong with looks like the reference, so both readings are the reference's code
    rewritten = pair.reference_source.replace(' fill="', ' fill ="')
    same = replace(pair, candidate_source=rewritten, critique=replace(pair.critique, errors=()))
    twice = f"```svg\n{pair.reference_source.strip()}\n```\n```svg\n{pair.reference_source.strip()}\n```"
    assert rewritten != pair.reference_source and critic_target(same, transcribe_first=True).startswith(
        f"<think>\n{twice}\n</think>\n"
    )


def test_a_shapes_reading_puts_each_shape_beside_its_counterpart_before_the_critique(tmp_path) -> None:
    from src.data.shape_reading import paired_reading
    from src.reward.parse import parse_critique

    _, pair, _, answer = first_labelled_sample(tmp_path, ("grid_edit",), reading="shapes")
    reading = paired_reading(pair.reference_source, pair.candidate_source)
    assert answer.startswith(f"<think>\n{reading}\n</think>\n") and " -> " in reading
    assert parse_critique(answer, "svg") == pair.critique
    # an equivalent rewrite draws the reference's shapes; a labelled candidate that is not plain shapes is refused
    grouped = f"<g>{pair.reference_source.split('>', 1)[1].rsplit('</svg>', 1)[0]}</g>"
    wrapped = pair.reference_source.split(">", 1)[0] + ">" + grouped + "</svg>"
    same = replace(pair, candidate_source=wrapped, critique=replace(pair.critique, errors=()))
    assert paired_reading(pair.reference_source, pair.reference_source) in critic_target(same, True, True, "shapes")
    with pytest.raises(ValueError, match="not a plain shape"):
        critic_target(replace(pair, candidate_source=wrapped), transcribe_first=True, reading="shapes")
    with pytest.raises(ValueError, match="reading"):
        RewardModelDataModule(data_dir=str(tmp_path / "data"), reading="pixels")  # type: ignore[arg-type]


def test_errors_first_trains_the_list_before_the_counts_and_reads_back_the_same(pair_shards, tiny_processor) -> None:
    from src.reward.parse import parse_critique

    dataset = make_dm(pair_shards, tiny_processor, errors_first=True).train_dataloader().dataset
    index = next(i for i, p in enumerate(dataset.pairs) if p.critique.errors)
    pair, sample = dataset.pairs[index], dataset[index]
    answer = tiny_processor.tokenizer.decode(sample["labels"][sample["labels"] != -100])
    written = json.loads(answer.removesuffix(tiny_processor.tokenizer.eos_token))
    assert list(written)[0] == "errors" and written == pair.critique.to_official()  # same content, list first
    assert parse_critique(answer, pair.domain).errors == pair.critique.errors
