"""``VLMDataModule``: what the critic's and the policy's DataModules share, so the two cannot drift apart.

Both get their processor late, through ``connect`` (litgpt style: the LightningModule knows it, the config does
not), may synthesize a small default set on a fresh machine, batch with the seeded length-bucketing sampler of
``src.data.sampling`` sharded by rank, and checkpoint where the training epoch stands so a killed run resumes without
seeing a sample twice. What a sample *is* (prompt, answer, collation) stays in the subclass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from src.data.sampling import LengthBucketBatchSampler, TrainEpochPosition, rank_and_world


class VLMDataModule(LightningDataModule):
    """Processor connection, default-set synthesis, rank-sharded length-bucketed batches, resumable position."""

    def __init__(
        self,
        data_dir: str | None,
        train_split: str,
        batch_size: int,
        num_workers: int,
        seed: int,
        synthesize_if_missing: int,
        bucket_batches: int,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.train_split = train_split
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.synthesize_if_missing = synthesize_if_missing
        self.bucket_batches = bucket_batches
        self.processor: Any = None
        self._position = TrainEpochPosition()

    def connect(self, processor: Any) -> None:
        """Give the DataModule what only the model knows; call before the dataloaders are built."""
        self.processor = processor

    def _require_processor(self) -> Any:
        if self.processor is None:
            raise RuntimeError(
                f"{type(self).__name__} has no processor: call connect(processor) first "
                "(the LightningModule does this in its setup())"
            )
        return self.processor

    def synthesis_settings(self) -> dict[str, Any]:
        """Extra ``SynthesisConfig`` fields for the default set this DataModule synthesizes when data is missing."""
        return {}

    def prepare_data(self) -> None:
        """Synthesize the small default set when asked to and missing (rank 0 only, as Lightning calls it)."""
        if self.data_dir is None or self.synthesize_if_missing <= 0:
            return
        if (self.data_dir / f"{self.train_split}.jsonl").exists():
            return
        from src.data.synthesis import SynthesisConfig, synthesize

        config = SynthesisConfig(
            n_per_domain=self.synthesize_if_missing,
            seed=self.seed,
            workers=os.cpu_count() or 1,
            **self.synthesis_settings(),
        )
        synthesize(self.data_dir, config, progress=False)

    def _batch_sampler(self, lengths: Sequence[int], shuffle: bool = True) -> LengthBucketBatchSampler:
        """Seeded length-bucketed batches of this rank; a shuffled (training) one is the one the checkpoint tracks."""
        rank, world = rank_and_world(self.trainer)
        sampler = LengthBucketBatchSampler(
            list(lengths),
            self.batch_size,
            shuffle=shuffle,
            seed=self.seed,
            bucket_batches=self.bucket_batches,
            rank=rank,
            world_size=world,
        )
        if shuffle:
            self._position.attach(sampler)
        return sampler

    def _batch_loader(self, dataset: Dataset, sampler: Any, collate: Callable[[list[Any]], Any]) -> DataLoader:
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def state_dict(self) -> dict[str, int]:
        """Where the training epoch stands (see ``src.data.sampling.epoch_position``); Lightning checkpoints it."""
        return self._position.state_dict(self.trainer)

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._position.load_state_dict(state_dict)
