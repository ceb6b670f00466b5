"""A seeded, length-aware, resumable batch sampler.

Why length-aware: two-image critic samples range from ~300 to ~3,000 tokens; random batches pad everything to the
longest, and most of the compute goes to padding. Each epoch the indices are shuffled (seed + epoch), cut into
windows of ``bucket_batches`` batches, sorted by length inside a window, batched, and the batch order shuffled
again: batches are nearly uniform in length while the epoch stays random (the usual "sortish" sampler).

Why resumable: the epoch's batch list is a pure function of ``(seed, epoch)``, so skipping the first ``k`` batches
of that list after a restart gives exactly the batches a killed run had not trained on yet. ``__len__`` stays the
full epoch (Lightning counts the resumed batches from ``k``, so the epoch ends when the list is exhausted).

Distributed: rank ``r`` of ``w`` takes batches ``r, r + w, …`` of the same list (the list is padded by repeating
its head so every rank gets the same count, as ``DistributedSampler`` does).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Sampler


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Batches of indices with similar lengths, deterministic per (seed, epoch), skippable after a restart.

    Args:
        lengths: a length estimate per sample (tokens); only their order matters.
        batch_size: samples per batch.
        shuffle: random order per epoch; ``False`` gives batches sorted by length (evaluation).
        seed: base seed; the epoch's order depends on ``seed`` and ``epoch`` only.
        drop_last: drop a last, smaller batch.
        bucket_batches: batches per sorting window; larger pads less but makes batch lengths less random.
        rank: this process's rank.
        world_size: number of processes sharing the epoch.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        bucket_batches: int = 50,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        if bucket_batches < 1:
            raise ValueError(f"bucket_batches: must be >= 1, got {bucket_batches}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.bucket_batches = bucket_batches
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self._skip: dict[int, int] = {}  # epoch -> batches of this rank to skip once (set by resume)
        self.batches_yielded = 0  # of the current epoch, counting skipped ones

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = epoch

    def resume(self, epoch: int, batches_done: int) -> None:
        """Continue epoch ``epoch`` after its first ``batches_done`` batches (the next iteration skips them)."""
        if batches_done < 0:
            raise ValueError(f"batches_done: must be >= 0, got {batches_done}")
        self._skip = {epoch: batches_done}
        self.epoch = epoch

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of ``epoch``, in order."""
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, epoch])
        if self.shuffle:
            order = rng.permutation(n)
            window = self.batch_size * self.bucket_batches
            # Stable sort by length inside each window; the tie order stays random from the permutation.
            chunks = [order[i : i + window] for i in range(0, n, window)]
            order = np.concatenate([c[np.argsort(self.lengths[c], kind="stable")] for c in chunks]) if n else order
        else:
            order = np.argsort(self.lengths, kind="stable")
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        if self.world_size > 1 and batches:
            per_rank = math.ceil(len(batches) / self.world_size)
            batches = (batches * math.ceil(per_rank * self.world_size / len(batches)))[: per_rank * self.world_size]
            batches = batches[self.rank :: self.world_size]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.epoch_batches(self.epoch)
        start = min(self._skip.pop(self.epoch, 0), len(batches))
        self._skip.clear()
        self.batches_yielded = start
        for batch in batches[start:]:
            self.batches_yielded += 1
            yield batch

    def __len__(self) -> int:
        n_batches = len(self.lengths) // self.batch_size
        if not self.drop_last and len(self.lengths) % self.batch_size:
            n_batches += 1
        return math.ceil(n_batches / self.world_size)


def length_stratified_subset(lengths: Sequence[int], n: int, seed: int) -> list[int]:
    """``n`` indices drawn across the whole length range: sort by length, cut into ``n`` equal strata, one seeded
    draw per stratum.

    Why: validation generates critiques only for a subset (generation is slow), and the first batches of a
    length-sorted loader are the shortest pairs — the ones with the fewest errors. A stratified draw keeps the
    subset's mix of short and long (few- and many-error) critiques that of the whole set, and fixed across epochs.
    """
    total = len(lengths)
    if n >= total:
        return list(range(total))
    if n <= 0:
        return []
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    edges = np.linspace(0, total, n + 1).round().astype(int)
    rng = np.random.default_rng([seed, total, n])
    return sorted(int(order[rng.integers(lo, hi)]) for lo, hi in zip(edges[:-1], edges[1:], strict=True))


class ValidationBatchSampler(Sampler[list[int]]):
    """Validation batches: the generation subset's batches first, then the rest, each part sorted by length and
    sharded so that every rank gets the same number of batches of each part.

    Equal counts matter under DDP/FSDP: ``generate`` runs forward passes, and under FSDP every forward is a
    collective, so all ranks must generate on the same number of batches (``generate_batches``). A part whose batch
    count does not divide by the world size repeats its first batches, as ``DistributedSampler`` does.

    Args:
        lengths: a length estimate per sample (tokens).
        batch_size: samples per batch.
        generate: indices whose critiques are generated and scored (``length_stratified_subset``).
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, generate: Sequence[int], rank: int = 0, world_size: int = 1
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        sizes = np.asarray(lengths, dtype=np.int64)
        chosen = set(generate)
        if not chosen <= set(range(len(sizes))):
            raise ValueError("generate: an index lies outside the dataset")
        rest = [i for i in range(len(sizes)) if i not in chosen]

        def part(indices: list[int]) -> list[list[int]]:
            ordered = sorted(indices, key=lambda i: (int(sizes[i]), i))
            batches = [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
            if world_size > 1 and batches:
                per_rank = math.ceil(len(batches) / world_size)
                batches = (batches * world_size)[: per_rank * world_size]
            return batches[rank::world_size]

        generating = part(sorted(chosen))
        self.generate_batches = len(generating)
        self.batches = generating + part(rest)

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches

    def __len__(self) -> int:
        return len(self.batches)


def epoch_position(trainer: Any, sampler: LengthBucketBatchSampler | None) -> dict[str, int]:
    """``{"epoch", "batches_done"}`` for a DataModule's ``state_dict``.

    When fitting, from the trainer's progress: the batches the model has trained on in this epoch (a checkpoint
    saved in ``on_train_batch_end`` counts the current batch, as Lightning does on restart). The sampler's own count
    runs ahead by the DataLoader workers' prefetch, so it is used only without a trainer (``num_workers=0``).
    """
    if trainer is not None and getattr(trainer, "fit_loop", None) is not None:
        processed = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return {"epoch": int(trainer.current_epoch), "batches_done": int(processed)}
    if sampler is None:
        return {"epoch": 0, "batches_done": 0}
    return {"epoch": sampler.epoch, "batches_done": sampler.batches_yielded}


def check_epoch_position(state: dict[str, Any]) -> dict[str, int]:
    """Validate a loaded ``epoch_position``; a malformed checkpoint entry fails naming the key."""
    for key in ("epoch", "batches_done"):
        if not isinstance(state.get(key), int) or state[key] < 0:
            raise ValueError(f"datamodule state: {key!r} missing or not a non-negative int in {state!r}")
    return {"epoch": state["epoch"], "batches_done": state["batches_done"]}


class TrainEpochPosition:
    """A DataModule's resumable place in the training epoch, over a train sampler rebuilt by each
    ``train_dataloader()``.

    Lightning may load a checkpoint's DataModule state before or after the train dataloader exists; either way the
    sampler skips the batches already trained. The DataModule's ``state_dict``/``load_state_dict`` delegate here.
    """

    def __init__(self) -> None:
        self.sampler: LengthBucketBatchSampler | None = None
        self._pending: dict[str, int] | None = None

    def attach(self, sampler: LengthBucketBatchSampler) -> None:
        """Make ``sampler`` the training sampler, resumed if a checkpoint position was loaded."""
        if self._pending is not None:
            sampler.resume(self._pending["epoch"], self._pending["batches_done"])
        self.sampler = sampler

    def state_dict(self, trainer: Any) -> dict[str, int]:
        """Where the training epoch stands (see ``epoch_position``); Lightning checkpoints it."""
        return epoch_position(trainer, self.sampler)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending = check_epoch_position(state)
        if self.sampler is not None:
            self.sampler.resume(self._pending["epoch"], self._pending["batches_done"])


def rank_and_world(trainer: Any) -> tuple[int, int]:
    """This process's rank and the world size for sharding batches; (0, 1) outside a Trainer."""
    if trainer is None:
        return 0, 1
    return trainer.global_rank, trainer.world_size
