"""``RewardModelDataModule``: (reference, candidate, true critique) pairs → chat samples for reward-model SFT.

Each sample is one user turn with the reference image, the candidate image and the domain's critic instruction
(``src.data.prompts.build_critic_messages``), then the official critique JSON as the assistant turn; the loss sees
only the answer tokens (see ``src.data.collate``). Pairs come from our shards (``data_dir/<split>.jsonl``) and/or
VC-RewardBench-style JSONL files with images on disk.

The processor is not known when the config is parsed, so the LightningModule calls ``connect(processor)`` in its
``setup()`` (litgpt style); Lightning runs the DataModule's ``setup`` before the module's, so everything that needs
the processor (length estimates, datasets) is built lazily in the dataloader hooks.

Batch contract (``VLMSFT`` relies on it)::

    {"model_inputs": {input_ids, attention_mask, pixel_values, image_grid_thw[, mm_token_type_ids]},  # right-padded
     "labels": LongTensor,            # -100 except the answer tokens (incl. end-of-turn)
     "domains": list[str], "targets": list[str], "ids": list[str],
     "skipped": {"corrupt": int, "answer_too_long": int},   # rows of this batch left out, and why
     "prompt_inputs": {same keys, prompt only, LEFT-padded for generate}}   # generation batches only

A batch whose rows were all skipped keeps only ``ids`` (empty) and ``skipped``: the stage counts it and moves on.
Validation generates critiques on a seeded, length-stratified subset of the val pairs (``val_generate_pairs``), whose
batches come first on every rank (``src.data.sampling.ValidationBatchSampler``).

With ``packing=True`` the training and loss batches are padding-free instead: ``model_inputs`` and ``labels`` are
one row (1, total tokens) with no attention mask, and ``batch["packing"] = {"seq_lens", "images_per_seq"}`` says
where each sample lies (``src.data.collate.pack_token_batch``); the stage turns it into per-sample positions.

Resuming mid-epoch: ``state_dict()`` stores (epoch, batches trained in it) from the trainer's progress, and the
seeded sampler skips exactly those batches after ``load_state_dict`` — no sample is seen twice in that epoch.
Under DDP/FSDP set ``Trainer(use_distributed_sampler=False)``: the sampler shards batches by rank itself.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader, Dataset

from src.data.collate import (
    AnswerTooLong,
    answer_suffix,
    encode_answer,
    encode_prompt,
    image_token_estimate,
    load_image,
    pack_token_batch,
    pad_id_of,
    pad_token_batch,
    training_sample,
)
from src.data.prompts import CriticInstruction, fenced_answer
from src.data.sampling import ValidationBatchSampler, length_stratified_subset, rank_and_world
from src.data.shape_diff import UnlabelableAnswer
from src.data.shape_reading import paired_reading
from src.data.shards import CorruptRowError, PairRecord, load_pairs
from src.data.vlm_datamodule import VLMDataModule

# What a critic that reads first writes in its <think> block: both images' code, or their shapes side by side.
Reading = Literal["code", "shapes"]


class CriticPairDataset(Dataset):
    """Encodes one pair per item. A pair whose images cannot be decoded, or whose answer does not fit ``max_length``,
    becomes a skip marker ``{"skipped": reason, "id": ...}`` (warned about; the collator counts it) or an error."""

    def __init__(
        self,
        pairs: list[PairRecord],
        processor: Any,
        max_length: int,
        max_image_side: int,
        on_corrupt: Literal["skip", "raise"],
        on_answer_too_long: Literal["drop", "raise"] = "drop",
        instruction: CriticInstruction = "full",
        transcribe: Sequence[int] = (),
        errors_first: bool = False,
        transcribe_first: bool = False,
        reading: Reading = "code",
    ) -> None:
        from src.data.prompts import build_critic_messages, build_transcription_messages

        self.pairs = pairs
        self.processor = processor
        self.max_length = max_length
        self.max_image_side = max_image_side
        self.on_corrupt = on_corrupt
        self.on_answer_too_long = on_answer_too_long
        self.suffix = answer_suffix(processor)
        self.instruction = instruction
        self.transcribe = list(transcribe)
        self.errors_first = errors_first
        self.transcribe_first = transcribe_first
        self.reading = reading
        self._build_messages = build_critic_messages
        self._build_transcription = build_transcription_messages

    def __len__(self) -> int:
        return len(self.pairs) + len(self.transcribe)

    def __getitem__(self, index: int) -> dict[str, Any]:
        transcription = index >= len(self.pairs)
        pair = self.pairs[self.transcribe[index - len(self.pairs)] if transcription else index]
        try:
            reference = load_image(pair.reference_image, self.max_image_side)
            candidate = load_image(pair.candidate_image, self.max_image_side)
            if transcription:
                messages = self._build_transcription(pair.domain, reference, candidate)
                target = transcription_target(pair)
            else:
                messages = self._build_messages(pair.domain, reference, candidate, self.instruction)
                target = critic_target(pair, self.errors_first, self.transcribe_first, self.reading)
            prompt = encode_prompt(self.processor, messages, [reference, candidate])
            sample = training_sample(
                prompt, encode_answer(self.processor, target, self.suffix), self.max_length, pair.source
            )
        except AnswerTooLong as exc:
            if self.on_answer_too_long == "raise":
                raise
            warnings.warn(f"dropping pair {pair.id}: {exc} (raise max_length to keep it)", stacklevel=2)
            return {"skipped": "answer_too_long", "id": pair.id}
        except (OSError, ValueError) as exc:
            message = f"{pair.source}: {exc}"
            if self.on_corrupt == "raise":
                raise ValueError(message) from exc
            warnings.warn(f"skipping corrupt pair {message}", stacklevel=2)
            return {"skipped": "corrupt", "id": pair.id}
        sample.update(domain=pair.domain, target=pair.target, id=pair.id)
        return sample


def transcription_target(pair: PairRecord) -> str:
    """The code of both images of ``pair``, each in its fenced block, reference first.

    A candidate whose label holds no discrepancy draws what the reference draws, so it is read as the reference's
    code: how its own source differs (attribute order, colour spelling, relative paths) cannot be seen in its image,
    and a critic taught to write that difference learns that two readings may differ where the images do not.
    """
    if pair.reference_source is None or pair.candidate_source is None:
        raise ValueError(f"pair {pair.id} has no source code to transcribe")
    candidate = pair.candidate_source if pair.critique.errors else pair.reference_source
    return fenced_answer(pair.domain, pair.reference_source) + "\n" + fenced_answer(pair.domain, candidate)


def critic_target(
    pair: PairRecord, errors_first: bool = False, transcribe_first: bool = False, reading: Reading = "code"
) -> str:
    """The critic's answer for ``pair``: the critique JSON, after a ``<think>`` block with its ``reading`` of both
    images when ``transcribe_first`` (a pair without both sources cannot be trained that way: ``ValueError``)."""
    critique = pair.critique.to_json(errors_first=errors_first)
    return reading_block(pair, reading) + critique if transcribe_first else critique


def reading_block(pair: PairRecord, reading: Reading = "code") -> str:
    """The ``<think>`` block a critic that reads first writes before its critique of ``pair``."""
    if reading == "shapes":
        if pair.reference_source is None or pair.candidate_source is None:
            raise ValueError(f"pair {pair.id} has no source code to read")
        try:
            think = paired_reading(pair.reference_source, pair.candidate_source)
        except UnlabelableAnswer as exc:
            if pair.critique.errors:
                raise ValueError(f"pair {pair.id}: {exc}") from exc
            # an equivalent rewrite (a group, a path for a rect) draws the reference's shapes: read those
            think = paired_reading(pair.reference_source, pair.reference_source)
    else:
        think = transcription_target(pair)
    return f"<think>\n{think}\n</think>\n"


SKIP_REASONS: tuple[str, ...] = ("corrupt", "answer_too_long")


class CriticCollator:
    """Pads (or packs) samples into the batch contract above; leaves skip markers out and counts them.

    ``generate_ids``: pairs whose prompts go along (left-padded, as ``prompt_inputs``) for generation; a batch gets
    them when all its rows are such pairs (``ValidationBatchSampler`` never mixes the two kinds).
    """

    def __init__(self, pad_id: int, generate_ids: frozenset[str] = frozenset(), packing: bool = False) -> None:
        self.pad_id = pad_id
        self.generate_ids = generate_ids
        self.packing = packing

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [s for s in samples if "skipped" not in s]
        skipped = {reason: sum(s.get("skipped") == reason for s in samples) for reason in SKIP_REASONS}
        if not rows:
            return {"ids": [], "domains": [], "targets": [], "skipped": skipped}
        packing: dict[str, torch.Tensor] | None = None
        if self.packing:
            model_inputs, packing = pack_token_batch(rows)
        else:
            model_inputs = pad_token_batch(rows, self.pad_id, side="right", with_labels=True)
        labels = model_inputs.pop("labels")
        batch: dict[str, Any] = {
            "model_inputs": model_inputs,
            "labels": labels,
            "domains": [r["domain"] for r in rows],
            "targets": [r["target"] for r in rows],
            "ids": [r["id"] for r in rows],
            "skipped": skipped,
        }
        if packing is not None:
            batch["packing"] = packing
        if self.generate_ids and all(r["id"] in self.generate_ids for r in rows):
            batch["prompt_inputs"] = pad_token_batch([r["prompt"] for r in rows], self.pad_id, side="left")
        return batch


class RewardModelDataModule(VLMDataModule):
    """Reward-model SFT data: our synthesized shards and/or official VC-RewardBench-style JSONL files.

    Args:
        data_dir: shard directory written by ``tools/synthesize.py`` (``None``: official files only).
        train_split: manifest of ``data_dir`` to train on (``<train_split>.jsonl``).
        val_split: manifest of ``data_dir`` to validate on; ``None`` for no validation from shards.
        train_jsonl: more training manifests, in our layout or VC-RewardBench's (``gt_img_path, pred_img_path,
            category, human_errors``); relative image paths resolve against each file's folder.
        val_jsonl: validation manifests in either layout (e.g. VC-RewardBench itself).
        batch_size: pairs per training batch (per device).
        val_batch_size: pairs per validation batch; defaults to ``batch_size``.
        num_workers: DataLoader worker processes (image decoding and the processor run there).
        seed: shuffling seed; an epoch's order depends on (seed, epoch) only.
        max_length: tokens per sample, prompt (both images included) + answer. A pair that does not fit is never
            cut (see ``on_answer_too_long``).
        on_answer_too_long: a pair whose answer does not fit ``max_length`` is warned about, counted (the stage
            logs ``train/skipped_answer_too_long``) and dropped, or raises.
        max_image_side: longest image side before the processor (paper: 1024; tables are stored at ≤768).
        on_corrupt: a corrupt row (missing or unreadable image, bad JSON, schema error) is warned about with its
            file and line and skipped, or raises.
        synthesize_if_missing: when ``data_dir`` holds no ``<train_split>.jsonl``, synthesize this many pairs per
            domain into it first (the debug config uses a few); 0 to require existing data.
        synthesize_candidates_per_reference: candidates sharing one reference image in that synthesized set (see
            ``src.data.synthesis``); 1 gives every pair its own reference, which a handful-of-pairs run needs to
            tell its pairs apart.
        bucket_batches: batches per length-sorting window (see ``src.data.sampling``).
        max_val_pairs: cap on validation pairs for the loss; ``None`` for all.
        val_generate_pairs: validation pairs whose critiques are generated and scored (parse rate, F1, severity
            Pearson), drawn once, seeded and stratified by length (``src.data.sampling.length_stratified_subset``),
            from the first ``max_val_pairs``; their batches run first, so ``limit_val_batches`` keeps them.
        packing: padding-free batches (samples concatenated into one row, attention kept within each sample).
            With ``flash_attention_2`` attention runs the variable-length kernel; under ``sdpa``/``eager`` the
            block-diagonal mask is materialized (total tokens squared), and SDPA cannot use its flash kernel with a
            mask, so there length bucketing (padding < 2%) is the cheaper way to avoid padding.
        instruction: the critic instruction (``src.data.prompts.critic_instruction``); ``short`` for a critic
            trained from scratch (the miniature), which the judge then asks with ``builtin_profile(instruction=...)``.
        transcribe_share: this many extra training samples per pair (seeded choice of the pairs that carry both
            sources) ask for the code of both images instead of the critique. A small critic trained from a base
            that reads one image at a time otherwise learns the critiques' format and never compares the images.
        errors_first: train the critic to write the error list before the per-category counts (see
            ``Critique.to_official``); the released format, counts first, is the default. Readers take either.
        transcribe_first: the critic writes the code of both images in a ``<think>`` block, then the critique
            (``critic_target``): it reads each image as the image -> code base it starts from already can, and
            compares the two readings as text. Every parser drops the block; the pairs need both sources.
        reading: what that block holds: ``code``, both images' code; ``shapes``, for plain-shape pictures, each
            reference shape beside the answer shape standing for it (``src.data.shape_reading``), so that every
            discrepancy follows from one line.
    """

    def __init__(
        self,
        data_dir: str | None = "data/synth",
        train_split: str = "train",
        val_split: str | None = "val",
        train_jsonl: list[str] | None = None,
        val_jsonl: list[str] | None = None,
        batch_size: int = 4,
        val_batch_size: int | None = None,
        num_workers: int = 2,
        seed: int = 0,
        max_length: int = 4096,
        max_image_side: int = 1024,
        on_corrupt: Literal["skip", "raise"] = "skip",
        synthesize_if_missing: int = 0,
        synthesize_candidates_per_reference: int = 4,
        bucket_batches: int = 50,
        max_val_pairs: int | None = None,
        val_generate_pairs: int = 8,
        packing: bool = False,
        on_answer_too_long: Literal["drop", "raise"] = "drop",
        instruction: CriticInstruction = "full",
        transcribe_share: float = 0.0,
        errors_first: bool = False,
        transcribe_first: bool = False,
        reading: Reading = "code",
    ) -> None:
        super().__init__(data_dir, train_split, batch_size, num_workers, seed, synthesize_if_missing, bucket_batches)
        if transcribe_share < 0:
            raise ValueError(f"transcribe_share: must be >= 0, got {transcribe_share}")
        if data_dir is None and not train_jsonl:
            raise ValueError("give data_dir or train_jsonl: there is no training data otherwise")
        if on_corrupt not in ("skip", "raise"):
            raise ValueError(f"on_corrupt: {on_corrupt!r} is not 'skip' or 'raise'")
        if on_answer_too_long not in ("drop", "raise"):
            raise ValueError(f"on_answer_too_long: {on_answer_too_long!r} is not 'drop' or 'raise'")
        if reading not in ("code", "shapes"):
            raise ValueError(f"reading: {reading!r} is not 'code' or 'shapes'")
        if val_generate_pairs < 0:
            raise ValueError(f"val_generate_pairs: must be >= 0, got {val_generate_pairs}")
        self.val_split = val_split
        self.train_jsonl = [Path(p) for p in train_jsonl or []]
        self.val_jsonl = [Path(p) for p in val_jsonl or []]
        self.val_batch_size = val_batch_size or batch_size
        self.max_length = max_length
        self.max_image_side = max_image_side
        self.on_corrupt = on_corrupt
        self.synthesize_candidates_per_reference = synthesize_candidates_per_reference
        self.max_val_pairs = max_val_pairs
        self.val_generate_pairs = val_generate_pairs
        self.packing = packing
        self.on_answer_too_long = on_answer_too_long
        self.instruction = instruction
        self.transcribe_share = transcribe_share
        self.errors_first = errors_first
        self.transcribe_first = transcribe_first
        self.reading = reading
        self.train_pairs: list[PairRecord] = []
        self.val_pairs: list[PairRecord] = []
        self.corrupt_rows: list[CorruptRowError] = []

    def synthesis_settings(self) -> dict[str, Any]:
        return {"candidates_per_reference": self.synthesize_candidates_per_reference}

    def setup(self, stage: str | None = None) -> None:
        self.train_pairs, self.val_pairs, self.corrupt_rows = [], [], []
        if self.data_dir is not None:
            train_manifest = self.data_dir / f"{self.train_split}.jsonl"
            if not train_manifest.exists():
                raise FileNotFoundError(
                    f"{train_manifest} does not exist: synthesize it (tools/synthesize.py --out {self.data_dir}) "
                    "or set synthesize_if_missing"
                )
            self.train_pairs += self._load(train_manifest)
            if self.val_split is not None and (self.data_dir / f"{self.val_split}.jsonl").exists():
                self.val_pairs += self._load(self.data_dir / f"{self.val_split}.jsonl")
        for path in self.train_jsonl:
            self.train_pairs += self._load(path)
        for path in self.val_jsonl:
            self.val_pairs += self._load(path)
        if self.max_val_pairs is not None:
            self.val_pairs = self.val_pairs[: self.max_val_pairs]
        if not self.train_pairs and stage in (None, "fit"):
            raise ValueError("no usable training pairs were found (see the warnings about corrupt rows)")

    def _load(self, path: Path) -> list[PairRecord]:
        pairs, corrupt = load_pairs(path, on_corrupt=self.on_corrupt)
        self.corrupt_rows += corrupt
        return pairs

    def _estimate_target(self, pair: PairRecord) -> str:
        """The pair's training answer, or its critique alone where that answer cannot be made (the sample then
        reports why, as a skipped pair)."""
        try:
            return critic_target(pair, self.errors_first, self.transcribe_first, self.reading)
        except ValueError:
            return pair.target

    def length_estimates(self, pairs: list[PairRecord]) -> list[int]:
        """Token count per pair: prompt text + target text (tokenized) + both images (from their header sizes)."""
        from src.data.prompts import critic_instruction

        processor = self._require_processor()
        tok = processor.tokenizer
        prompt_tokens = {
            d: len(tok(critic_instruction(d, self.instruction))["input_ids"]) + 16 for d in {p.domain for p in pairs}
        }
        targets = [self._estimate_target(p) for p in pairs]
        target_tokens = [len(ids) for ids in tok(targets, add_special_tokens=False)["input_ids"]] if targets else []
        out = []
        for pair, n_target in zip(pairs, target_tokens, strict=True):
            images = sum(
                image_token_estimate(processor, *size, self.max_image_side) if size else 256
                for size in (pair.reference_size, pair.candidate_size)
            )
            out.append(prompt_tokens[pair.domain] + n_target + images)
        return out

    def train_dataloader(self) -> DataLoader:
        processor = self._require_processor()
        transcribe = self.transcription_indices()
        lengths = self.length_estimates(self.train_pairs)
        lengths += [2 * lengths[i] for i in transcribe]  # two code blocks are about as long as two critiques
        sampler = self._batch_sampler(lengths)
        dataset = self._dataset(self.train_pairs, processor, transcribe)
        return self._batch_loader(dataset, sampler, CriticCollator(pad_id_of(processor), packing=self.packing))

    def val_dataloader(self) -> DataLoader:
        processor = self._require_processor()
        rank, world = rank_and_world(self.trainer)
        lengths = self.length_estimates(self.val_pairs)
        generate = self.generation_subset(lengths)
        sampler = ValidationBatchSampler(lengths, self.val_batch_size, generate, rank=rank, world_size=world)
        generate_ids = frozenset(self.val_pairs[i].id for i in generate)
        collate = CriticCollator(pad_id_of(processor), generate_ids=generate_ids, packing=self.packing)
        return self._batch_loader(self._dataset(self.val_pairs, processor), sampler, collate)

    def generation_subset(self, lengths: list[int]) -> list[int]:
        """Indices of the val pairs whose critiques are generated: the same every epoch and on every rank."""
        return length_stratified_subset(lengths, self.val_generate_pairs, self.seed)

    def transcription_indices(self) -> list[int]:
        """Train pairs that also appear as transcription samples: a seeded draw among those with both sources."""
        eligible = [i for i, p in enumerate(self.train_pairs) if p.reference_source and p.candidate_source]
        random.Random(f"{self.seed}/transcribe").shuffle(eligible)
        return sorted(eligible[: round(self.transcribe_share * len(self.train_pairs))])

    def _dataset(self, pairs: list[PairRecord], processor: Any, transcribe: Sequence[int] = ()) -> CriticPairDataset:
        return CriticPairDataset(
            pairs,
            processor,
            self.max_length,
            self.max_image_side,
            self.on_corrupt,
            self.on_answer_too_long,
            self.instruction,
            transcribe,
            self.errors_first,
            self.transcribe_first,
            self.reading,
        )
