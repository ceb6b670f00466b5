"""Answer-token SFT of a Qwen3-VL model; the DataModule decides prompt and answer.

    python -m src fit --config configs/reward_sft/debug.yaml          # the critic: CPU, seconds, tiny random model
    python -m src fit --config configs/reward_sft/qwen3vl_8b_lora.yaml  # the critic on one GPU
    python -m src fit --config configs/base_sft/mini.yaml             # image -> code (the miniature's base and policy)

With ``RewardModelDataModule`` the answer is the critique of a (reference, rendered candidate) pair (reward-model
SFT); with ``VisionToCodeDataModule(answers=True)`` it is the code that drew the image (policy SFT, and the visually
grounded base both the miniature's critic and policy start from, as the paper starts both from one instruction-tuned
model). The loss is next-token cross-entropy on the answer tokens only. Image and prompt tokens are the bulk of a sample
(two images are ~1-3k tokens, the critique a few hundred), so the LM head is applied only at the positions that
predict an answer token (see ``answer_token_loss``): the [batch, seq, 151k] logits tensor of a plain
``model(labels=...)`` call never exists. Validation also generates critiques (greedy) for a seeded, length-stratified
subset of the val pairs chosen by the DataModule and scores them against the true labels (parse rate, category-level
precision/recall/F1, Pearson of severity sums: ``src.reward.critique_metrics.CritiqueScores``).

Under DDP/FSDP every rank takes the same path through every collective: the metrics are computed on all ranks and
reported from synced values only, every rank generates on the same number of batches (with ``synced_gpus``, so an
FSDP rank that finishes early keeps joining its peers' forwards), a batch whose rows were all skipped still takes
a (zero) step, and the skip counts are logged at every step.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from src.data.schema import Critique
from src.models.lm_head import backbone_and_head
from src.models.loading import VLMLoader, save_full_model, unwrap_peft
from src.models.packing import packed_position_ids
from src.reward import CritiqueParseError, parse_critique
from src.reward.critique_metrics import CritiqueScores
from src.stages.vlm_stage import VLMStage

IGNORE_INDEX = -100


def answer_token_loss(
    model: torch.nn.Module,
    model_inputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    packing: dict[str, torch.Tensor] | None = None,
    chunk_tokens: int = 2048,
) -> torch.Tensor:
    """Mean next-token cross-entropy over answer tokens, computing logits only where a label follows.

    Position t predicts token t+1, so the kept positions are those whose *next* label is not ignored. The backbone
    and the LM head are called separately (rather than through ``logits_to_keep``, whose boolean-mask form only
    recent transformers releases accept), so only [answer tokens, vocab] logits are ever formed, and those
    ``chunk_tokens`` rows at a time (``chunked_cross_entropy``). ``packing`` (``seq_lens``, ``images_per_seq``)
    marks a padding-free batch; each sample then gets its own positions (``src.models.packing``).
    """
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    if not keep.any():
        raise ValueError("batch has no answer tokens: every label is -100 (prompt longer than max_length?)")
    backbone, head = backbone_and_head(model)
    if packing is not None:
        position_ids = packed_position_ids(
            backbone,
            model_inputs["input_ids"],
            packing["seq_lens"],
            packing["images_per_seq"],
            model_inputs.get("image_grid_thw"),
            model_inputs.get("mm_token_type_ids"),
        )
        model_inputs = {**model_inputs, "position_ids": position_ids}
    hidden = backbone(**model_inputs, use_cache=False).last_hidden_state
    targets = labels[:, 1:][keep[:, :-1]]
    return chunked_cross_entropy(head, hidden[keep], targets, chunk_tokens)


def chunked_cross_entropy(
    head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor, chunk_tokens: int
) -> torch.Tensor:
    """Mean cross-entropy of ``head(hidden)`` against ``targets``, never holding more than ``chunk_tokens`` rows of
    float32 logits (151k columns: 0.6 GB per 1k rows).

    Each chunk runs under activation checkpointing, so its logits are freed after the forward and recomputed in the
    backward: one extra LM-head matmul per chunk buys memory that scales with the chunk, not the batch.
    """
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens: must be >= 1, got {chunk_tokens}")
    n = targets.numel()
    if n <= chunk_tokens:
        return F.cross_entropy(head(hidden).float(), targets, reduction="mean")
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, n, chunk_tokens):
        stop = start + chunk_tokens
        total = total + checkpoint(
            _cross_entropy_sum, head, hidden[start:stop], targets[start:stop], use_reentrant=False
        )
    return total / n


def _cross_entropy_sum(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(head(hidden).float(), targets, reduction="sum")


class VLMSFT(VLMStage):
    """Supervised fine-tuning of a VLM on answer tokens (the critic, or the policy on reference code).

    Args:
        loader: how to load the VLM and its processor (HF id or local dir, dtype, attention, LoRA/QLoRA).
        lr: peak learning rate (paper: 1e-5 for full SFT; LoRA usually wants ~1e-4).
        weight_decay: AdamW weight decay.
        betas: AdamW betas.
        warmup_ratio: fraction of the total optimizer steps spent in linear warmup.
        min_lr_ratio: cosine decays to ``lr * min_lr_ratio``.
        max_new_tokens: generation budget for a critique during validation.
        adapter_dir: where to write the trained LoRA adapter (peft format) and processor at the end of fit;
            defaults to ``<log_dir>/adapter`` (``<default_root_dir>/adapter`` without a logger; none on fast_dev_run).
        model_dir: full fine-tuning: where to write the trained model and processor (Hugging Face format, loadable
            by every later step) at the end of fit; ``None``: only Lightning's checkpoints.
        tiny_model_if_missing: debug configs only: when ``loader.name_or_path`` is a local path that does not
            exist, build the tiny random-weight Qwen3-VL there first, so the debug run needs no download.
        loss_chunk_tokens: answer tokens per LM-head chunk in the loss (see ``chunked_cross_entropy``).
        compile_layers: ``torch.compile`` each repeated block (decoder layers, vision blocks: the model's
            ``_no_split_modules``) in place. Compiling blocks rather than the whole model compiles one graph per
            block type, so the first steps stay short and the varying sequence lengths cost few recompiles.
        compile_backend: the ``torch.compile`` backend for ``compile_layers``.
    """

    def __init__(
        self,
        loader: VLMLoader,
        lr: float = 1e-5,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        warmup_ratio: float = 0.03,
        min_lr_ratio: float = 0.0,
        max_new_tokens: int = 512,
        adapter_dir: str | None = None,
        model_dir: str | None = None,
        tiny_model_if_missing: bool = False,
        loss_chunk_tokens: int = 2048,
        compile_layers: bool = False,
        compile_backend: str = "inductor",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.loader = loader
        self.lr, self.weight_decay, self.betas = lr, weight_decay, betas
        self.warmup_ratio, self.min_lr_ratio = warmup_ratio, min_lr_ratio
        self.max_new_tokens = max_new_tokens
        self.adapter_dir, self.tiny_model_if_missing = adapter_dir, tiny_model_if_missing
        self.model_dir = model_dir
        if loss_chunk_tokens < 1:
            raise ValueError(f"loss_chunk_tokens: must be >= 1, got {loss_chunk_tokens}")
        self.loss_chunk_tokens = loss_chunk_tokens
        self.compile_layers, self.compile_backend = compile_layers, compile_backend
        self._n_params = 0  # set in configure_model; feeds flops_per_batch
        self._batch_tokens: torch.Tensor | int = 0  # read (and synced) only when flops_per_batch is asked for
        self._warned_dense_packing = False
        self.val_scores = CritiqueScores()

    # -- setup ---------------------------------------------------------------------------------------------------
    def on_model_loaded(self) -> None:
        if self.compile_layers:
            compile_repeated_blocks(self.vlm, self.compile_backend)
        # HF counts 4-bit weights at their unpacked size
        self._n_params = int(unwrap_peft(self.vlm).num_parameters())

    @property
    def flops_per_batch(self) -> int:
        """FLOPs of the last batch, for Lightning's ``ThroughputMonitor`` (MFU on GPUs it knows).

        Same convention as ``benchmarks/train_step.py``: 2N per token forward, 2N for activation gradients, and 2N
        more for weight gradients only when the base is trained (not under LoRA/QLoRA); attention is not counted.
        Validation counts its loss forward (2N) only, not the critiques it generates.
        """
        training = self._trainer is not None and self.trainer.training
        per_token = (4 if self.is_peft else 6) if training else 2
        return per_token * self._n_params * int(self._batch_tokens)

    # -- training ------------------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self._log_skipped(batch)
        if not batch["ids"]:
            return self._empty_batch_loss()
        loss = self._loss(batch)
        # Token counts stay tensors here: int() on a CUDA tensor would stall the CPU until the forward finishes,
        # before it could queue the backward.
        self._batch_tokens = real_token_count(batch)
        n_tokens = (batch["labels"] != IGNORE_INDEX).sum().float()
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["domains"]))
        self.log("train/answer_tokens", n_tokens, batch_size=len(batch["domains"]))
        return loss

    def _log_skipped(self, batch: dict[str, Any]) -> None:
        """Count rows the DataModule left out (every step, on every rank: a key logged by some ranks only would
        hang the epoch-end sync)."""
        for reason, count in (batch.get("skipped") or {}).items():
            self.log(
                f"train/skipped_{reason}", float(count), on_step=False, on_epoch=True, reduce_fx="sum", sync_dist=True
            )

    def _empty_batch_loss(self) -> torch.Tensor | None:
        """Every row of the batch was corrupt or too long. Alone, skip the step (``None``); under DDP the other
        ranks wait in the gradient all-reduce, so take a zero step that touches every trainable weight instead."""
        warnings.warn("a training batch had no usable rows (see train/skipped_*); its step is skipped", stacklevel=2)
        if self.trainer.world_size == 1:
            return None
        return torch.stack([p.sum() for p in self.vlm.parameters() if p.requires_grad]).sum() * 0.0

    def _loss(self, batch: dict[str, Any]) -> torch.Tensor:
        if batch.get("packing") is not None and not self._warned_dense_packing:
            self._warned_dense_packing = True
            attn = getattr(self.vlm.config, "_attn_implementation", None)
            if attn != "flash_attention_2":
                warnings.warn(
                    f"packed batches under attn_implementation={attn!r} attend through a dense block-diagonal mask "
                    "over the whole packed row, which costs more than the padding it removes; packing pays with "
                    "flash_attention_2 (install the flash-attn extra) or set data.packing: false",
                    stacklevel=2,
                )
        return answer_token_loss(
            self.vlm, batch["model_inputs"], batch["labels"], batch.get("packing"), self.loss_chunk_tokens
        )

    def configure_optimizers(self) -> Any:
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(total * self.warmup_ratio)
        floor = self.min_lr_ratio

        def lr_factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        return self.adamw(lr_factor)

    # -- validation ----------------------------------------------------------------------------------------------
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        batch_size = len(batch["domains"])
        if batch_size == 0:
            return
        loss = self._loss(batch)
        self._batch_tokens = real_token_count(batch)
        self.log("val/loss", loss, prog_bar=True, batch_size=batch_size, sync_dist=True)
        if batch.get("prompt_inputs") is None:  # not one of the DataModule's generation batches
            return
        texts = self.generate_critiques(batch["prompt_inputs"])
        preds: list[Critique | None] = []
        targets = [
            Critique.from_official(json.loads(t), d) for t, d in zip(batch["targets"], batch["domains"], strict=True)
        ]
        for text, domain in zip(texts, batch["domains"], strict=True):
            try:
                preds.append(parse_critique(text, domain))
            except CritiqueParseError:
                preds.append(None)
        self.val_scores.update(preds, targets)

    def on_validation_epoch_end(self) -> None:
        # A collective on every rank; what is logged depends on synced values only (see CritiqueScores.compute).
        scores = self.val_scores.compute()
        self.val_scores.reset()
        for name, value in scores.items():
            self.log(f"val/{name}", value)

    @torch.no_grad()
    def generate_critiques(self, prompt_inputs: dict[str, torch.Tensor]) -> list[str]:
        """Greedy critiques for left-padded prompts; returns only the newly generated text."""
        tokenizer = self.processor.tokenizer
        distributed = self._trainer is not None and self.trainer.world_size > 1
        out = self.vlm.generate(
            **prompt_inputs,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            synced_gpus=distributed,  # FSDP: a rank done early keeps stepping until every rank is done
        )
        new_tokens = out[:, prompt_inputs["input_ids"].shape[1] :]
        return tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    # -- artefacts ---------------------------------------------------------------------------------------------------
    def write_full_model(self) -> None:
        if self.model_dir is not None and self.trainer.is_global_zero:
            save_full_model(self.vlm, self.model_dir, self.processor)


def pairs_in_batch(batch: dict[str, Any]) -> int:
    """Pairs in a batch of the DataModule contract (``ThroughputMonitor.batch_size_fn``).

    A batch whose rows were all skipped counts as one: ``ThroughputMonitor`` requires at least one sample per batch
    and raises otherwise (such batches are rare and counted under ``train/skipped_*``).
    """
    return max(1, len(batch["ids"]))


def real_token_count(batch: dict[str, Any]) -> torch.Tensor | int:
    """Real (unpadded) tokens in a batch, padded or packed; a device tensor for padded batches (no host sync)."""
    inputs = batch.get("model_inputs")
    if inputs is None:  # every row was skipped
        return 0
    mask = inputs.get("attention_mask")
    return mask.sum() if mask is not None else int(inputs["input_ids"].numel())


def tokens_in_batch(batch: dict[str, Any]) -> int:
    """Real (unpadded) tokens in a batch, padded or packed (``ThroughputMonitor.length_fn``); at least one, as for
    ``pairs_in_batch``."""
    return max(1, int(real_token_count(batch)))


def compile_repeated_blocks(model: torch.nn.Module, backend: str | Callable[..., Any] = "inductor") -> int:
    """Compile, in place, every block of the types the model declares unsplittable; returns how many.

    Those are the repeated layers (``Qwen3VLTextDecoderLayer``, ``Qwen3VLVisionBlock``) that hold nearly all the
    FLOPs; norms, rotary embeddings, activations and LoRA additions inside them fuse. The LM head and the loss stay
    eager (``chunked_cross_entropy`` already bounds them).
    """
    base = unwrap_peft(model)
    block_types = set(getattr(base, "_no_split_modules", None) or [])
    if not block_types:
        raise TypeError(f"{type(base).__name__} declares no _no_split_modules; cannot tell its repeated blocks")
    blocks = [m for m in base.modules() if type(m).__name__ in block_types]
    for block in blocks:
        block.compile(backend=backend)
    return len(blocks)
