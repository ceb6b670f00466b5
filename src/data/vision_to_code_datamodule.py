"""``VisionToCodeDataModule``: reference images (+ ground-truth code when known) → policy prompts for RL and eval.

The policy sees one reference image and a per-domain instruction ("write matplotlib code that reproduces this
chart"), and answers with code that the render pool turns into the candidate image the judge compares. Prompts come
from our shards (every distinct reference image, with the seed's code as ground truth; the content-addressed image
path merges the candidates that share a reference) and/or JSONL files of ``{image | gt_img_path, domain |
category, code?, id?}`` rows with images on disk (relative paths resolve against the file's folder).

Batch: ``{"records": [{"id", "domain", "image_path", "image" (PIL, downscaled), "reference_code" | None,
"messages"}], "model_inputs": {prompt inputs, LEFT-padded for generate}, "domains": list[str]}``. Same seeded,
length-aware, resumable sampling as the reward DataModule (``src.data.sampling``).

With ``answers=True`` the same prompts become supervised samples for the SFT stage (``src.stages.sft.VLMSFT``): the
answer is the reference code in the fenced block the instruction asks for, and a batch is the SFT contract
(``model_inputs`` right-padded with the answer appended, ``labels`` on the answer only, ``ids``, ``domains``,
``skipped``). Image → code SFT on synthesized references is dense supervision of what the image shows, which is how
the miniature reproduction gets a base that sees before it is asked to compare (a policy and a critic start from it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from torch.utils.data import DataLoader, Dataset

from src.data.collate import (
    AnswerTooLong,
    answer_suffix,
    encode_answer,
    encode_prompt,
    image_token_estimate,
    load_image,
    pad_id_of,
    pad_token_batch,
    training_sample,
)
from src.data.prompts import POLICY_INSTRUCTIONS, build_policy_messages, fenced_answer
from src.data.shards import CorruptRowError, image_size, iter_jsonl, report_corrupt
from src.data.vlm_datamodule import VLMDataModule
from src.render.job import DOMAINS


@dataclass(frozen=True)
class PolicyPrompt:
    """One reference image to reproduce; ``reference_code`` is the code that drew it, when known."""

    id: str
    domain: str
    image_path: Path
    reference_code: str | None
    size: tuple[int, int]
    source: str  # "file:line" for error messages


def load_policy_prompts(path: Path, on_corrupt: Literal["skip", "raise"]) -> tuple[list[PolicyPrompt], list]:
    """Prompts from a manifest: our shard rows, VC-RewardBench rows or ``{image, domain, code}`` rows."""
    prompts: list[PolicyPrompt] = []
    corrupt: list[CorruptRowError] = []
    for line_no, row in iter_jsonl(path, on_corrupt, corrupt):
        where = f"{path}:{line_no}"
        try:
            image_key = next((k for k in ("reference_image", "gt_img_path", "image") if k in row), None)
            if image_key is None or not isinstance(row[image_key], str):
                raise ValueError("no reference image path (reference_image, gt_img_path or image)")
            domain = str(row.get("domain", row.get("category", ""))).strip().lower()
            if domain not in DOMAINS:
                raise ValueError(f"domain/category: {domain!r} is not one of {DOMAINS}")
            image_path = Path(row[image_key])
            image_path = image_path if image_path.is_absolute() else path.parent / image_path
            code = row.get("reference_source", row.get("code"))
            prompts.append(
                PolicyPrompt(
                    id=str(row.get("id", where)),
                    domain=domain,
                    image_path=image_path,
                    reference_code=code if isinstance(code, str) else None,
                    size=image_size(image_path, image_key),
                    source=where,
                )
            )
        except (ValueError, FileNotFoundError) as exc:
            report_corrupt(CorruptRowError(path, line_no, str(exc)), on_corrupt, corrupt)
    return prompts, corrupt


class PolicyPromptDataset(Dataset):
    """Encodes one prompt per item (left-padded later); an undecodable image is ``None`` or an error.

    ``answer_max_length``: encode prompt + fenced reference code as one supervised sample instead (SFT); a prompt
    without reference code, or one that does not fit, is a skip marker the collator counts.
    """

    def __init__(
        self,
        prompts: list[PolicyPrompt],
        processor: Any,
        max_image_side: int,
        on_corrupt: Literal["skip", "raise"],
        answer_max_length: int | None = None,
    ) -> None:
        self.prompts = prompts
        self.processor = processor
        self.max_image_side = max_image_side
        self.on_corrupt = on_corrupt
        self.answer_max_length = answer_max_length
        self.suffix = answer_suffix(processor) if answer_max_length is not None else ""

    def __len__(self) -> int:
        return len(self.prompts)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        prompt = self.prompts[index]
        try:
            image = load_image(prompt.image_path, self.max_image_side)
            messages = build_policy_messages(prompt.domain, image)
            inputs = encode_prompt(self.processor, messages, [image])
        except (OSError, ValueError) as exc:
            if self.on_corrupt == "raise":
                raise ValueError(f"{prompt.source}: {exc}") from exc
            warnings.warn(f"skipping corrupt prompt {prompt.source}: {exc}", stacklevel=2)
            return None if self.answer_max_length is None else {"skipped": "corrupt", "id": prompt.id}
        if self.answer_max_length is not None:
            return self._supervised(prompt, inputs)
        record = {
            "id": prompt.id,
            "domain": prompt.domain,
            "image_path": str(prompt.image_path),
            "image": image,
            "reference_code": prompt.reference_code,
            "messages": messages,
        }
        return {"record": record, "inputs": inputs}

    def _supervised(self, prompt: PolicyPrompt, inputs: dict[str, Any]) -> dict[str, Any]:
        if prompt.reference_code is None:
            return {"skipped": "no_reference_code", "id": prompt.id}
        answer = encode_answer(self.processor, fenced_answer(prompt.domain, prompt.reference_code), self.suffix)
        try:
            sample = training_sample(inputs, answer, int(self.answer_max_length or 0), prompt.source)
        except AnswerTooLong as exc:
            warnings.warn(f"dropping prompt {prompt.id}: {exc} (raise max_length to keep it)", stacklevel=2)
            return {"skipped": "answer_too_long", "id": prompt.id}
        sample.update(domain=prompt.domain, id=prompt.id)
        return sample


SFT_SKIP_REASONS: tuple[str, ...] = ("corrupt", "answer_too_long", "no_reference_code")


class SupervisedCodeCollator:
    """Right-pads supervised samples into the SFT batch contract; counts the rows left out by reason."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [s for s in samples if "skipped" not in s]
        skipped = {reason: sum(s.get("skipped") == reason for s in samples) for reason in SFT_SKIP_REASONS}
        if not rows:
            return {"ids": [], "domains": [], "skipped": skipped}
        model_inputs = pad_token_batch(rows, self.pad_id, side="right", with_labels=True)
        labels = model_inputs.pop("labels")
        return {
            "model_inputs": model_inputs,
            "labels": labels,
            "domains": [r["domain"] for r in rows],
            "ids": [r["id"] for r in rows],
            "skipped": skipped,
        }


class PolicyPromptCollator:
    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, samples: list[dict[str, Any] | None]) -> dict[str, Any] | None:
        rows = [s for s in samples if s is not None]
        if not rows:
            return None
        return {
            "records": [r["record"] for r in rows],
            "model_inputs": pad_token_batch([r["inputs"] for r in rows], self.pad_id, side="left"),
            "domains": [r["record"]["domain"] for r in rows],
        }


class VisionToCodeDataModule(VLMDataModule):
    """Policy prompts for GRPO (train) and vision-to-code evaluation (val).

    Args:
        data_dir: shard directory from ``tools/synthesize.py``; its distinct reference images become prompts.
        train_split: manifest of ``data_dir`` for training prompts.
        val_split: manifest of ``data_dir`` for evaluation prompts; ``None`` for none.
        train_jsonl: extra training prompt files (``image``/``gt_img_path``, ``domain``/``category``, ``code``).
        val_jsonl: extra evaluation prompt files in that layout.
        domains: keep only these domains.
        batch_size: prompts per batch (each gets ``n`` rollouts downstream).
        num_workers: DataLoader worker processes.
        seed: shuffling seed; an epoch's order depends on (seed, epoch) only.
        max_image_side: longest image side before the processor.
        on_corrupt: a corrupt row or image is warned about with its file and line and skipped, or raises.
        bucket_batches: batches per length-sorting window.
        max_val_prompts: cap on evaluation prompts; ``None`` for all.
        synthesize_if_missing: when ``data_dir`` holds no ``<train_split>.jsonl``, synthesize this many pairs per
            domain into it first (debug configs); 0 to require existing data.
        answers: batches for SFT (prompt + fenced reference code, labels on the code) instead of prompts to sample.
        max_length: token budget of one supervised sample (``answers=True``); longer ones are skipped and counted.
    """

    def __init__(
        self,
        data_dir: str | None = "data/synth",
        train_split: str = "train",
        val_split: str | None = "val",
        train_jsonl: list[str] | None = None,
        val_jsonl: list[str] | None = None,
        domains: list[str] | None = None,
        batch_size: int = 8,
        num_workers: int = 2,
        seed: int = 0,
        max_image_side: int = 1024,
        on_corrupt: Literal["skip", "raise"] = "skip",
        bucket_batches: int = 50,
        max_val_prompts: int | None = None,
        synthesize_if_missing: int = 0,
        answers: bool = False,
        max_length: int = 1024,
    ) -> None:
        super().__init__(data_dir, train_split, batch_size, num_workers, seed, synthesize_if_missing, bucket_batches)
        if data_dir is None and not train_jsonl:
            raise ValueError("give data_dir or train_jsonl: there are no prompts otherwise")
        for d in domains or []:
            if d not in DOMAINS:
                raise ValueError(f"domains: {d!r} is not one of {DOMAINS}")
        self.val_split = val_split
        self.train_jsonl = [Path(p) for p in train_jsonl or []]
        self.val_jsonl = [Path(p) for p in val_jsonl or []]
        self.domains = tuple(domains) if domains else DOMAINS
        self.max_image_side = max_image_side
        self.on_corrupt = on_corrupt
        self.max_val_prompts = max_val_prompts
        self.answers, self.max_length = answers, max_length
        self.train_prompts: list[PolicyPrompt] = []
        self.val_prompts: list[PolicyPrompt] = []
        self.corrupt_rows: list[CorruptRowError] = []

    def setup(self, stage: str | None = None) -> None:
        self.corrupt_rows = []
        train_files, val_files = list(self.train_jsonl), list(self.val_jsonl)
        if self.data_dir is not None:
            train_files.insert(0, self.data_dir / f"{self.train_split}.jsonl")
            if self.val_split is not None:
                val_files.insert(0, self.data_dir / f"{self.val_split}.jsonl")
        self.train_prompts = self._load(train_files)
        self.val_prompts = self._load(val_files)
        if self.max_val_prompts is not None:
            self.val_prompts = self.val_prompts[: self.max_val_prompts]
        if not self.train_prompts and stage in (None, "fit"):
            raise ValueError(f"no usable training prompts in {[str(p) for p in train_files]}")

    def _load(self, files: list[Path]) -> list[PolicyPrompt]:
        """Prompts of ``files`` in the wanted domains, one per distinct reference image."""
        out: list[PolicyPrompt] = []
        seen: set[Path] = set()
        for path in files:
            if not path.is_file():
                raise FileNotFoundError(f"prompt file {path} does not exist")
            prompts, corrupt = load_policy_prompts(path, self.on_corrupt)
            self.corrupt_rows += corrupt
            for p in prompts:
                if p.domain in self.domains and p.image_path not in seen:
                    seen.add(p.image_path)
                    out.append(p)
        return out

    def length_estimates(self, prompts: list[PolicyPrompt]) -> list[int]:
        """Prompt tokens: the domain's instruction plus the image's tokens."""
        processor = self._require_processor()
        text: dict[str, int] = {d: len(processor.tokenizer(POLICY_INSTRUCTIONS[d])["input_ids"]) + 12 for d in DOMAINS}
        return [text[p.domain] + image_token_estimate(processor, *p.size, self.max_image_side) for p in prompts]

    def _loader(self, prompts: list[PolicyPrompt], shuffle: bool) -> DataLoader:
        processor = self._require_processor()
        sampler = self._batch_sampler(self.length_estimates(prompts), shuffle=shuffle)
        answer_max_length = self.max_length if self.answers else None
        collate = SupervisedCodeCollator if self.answers else PolicyPromptCollator
        dataset = PolicyPromptDataset(prompts, processor, self.max_image_side, self.on_corrupt, answer_max_length)
        return self._batch_loader(dataset, sampler, collate(pad_id_of(processor)))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_prompts, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_prompts, shuffle=False)
