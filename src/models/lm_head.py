"""The LM head applied only where a target token follows, shared by the SFT loss and the GRPO log-probs.

A VLM's [batch, seq, vocab] logits are mostly wasted on prompt and image positions (151k columns: 0.6 GB of float32
per 1k positions). Both stages therefore call the multimodal backbone and the LM head separately
(``backbone_and_head``), keep the hidden states of the positions that predict a supervised token, and apply the head
to those rows in chunks, each under activation checkpointing, so memory scales with the chunk, not the batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from src.models.loading import unwrap_peft


def backbone_and_head(model: torch.nn.Module) -> tuple[Any, Any]:
    """The multimodal backbone (``.model``) and LM head of a HF VLM, through a peft wrapper if there is one.

    LoRA layers live inside these modules, so calling them directly trains the adapters exactly as the full
    forward would (and peft's ``disable_adapter`` still switches them off); under FSDP the root unit is Lightning's
    wrapper, so the submodules' own units still gather.
    """
    base = unwrap_peft(model)
    backbone = getattr(base, "model", None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    if backbone is None or head is None:
        raise TypeError(
            f"{type(base).__name__} has no .model backbone and LM head; expected a HF *ForConditionalGeneration"
        )
    return backbone, head


def chunked_token_logprobs(
    head: torch.nn.Module,
    hidden: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 1.0,
    chunk_tokens: int = 2048,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each target token under ``softmax(head(hidden) / temperature)``, and that distribution's
    entropy, never holding more than ``chunk_tokens`` rows of float32 logits.

    Dividing by the sampling temperature makes these the log-probs of the distribution the engine sampled from, so
    they are comparable with the engine's own (importance-sampling correction) and the policy gradient is the one of
    the sampling policy.

    Args:
        head: the LM head.
        hidden: [n, hidden] final hidden states of the positions that predict ``targets``.
        targets: [n] the token ids that follow those positions.
        temperature: sampling temperature (> 0).
        chunk_tokens: rows per chunk.

    Returns:
        ``(logprobs [n], entropy [n])``, float32, differentiable.
    """
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens: must be >= 1, got {chunk_tokens}")
    if temperature <= 0:
        raise ValueError(f"temperature: must be > 0 to score tokens, got {temperature}")
    n = targets.numel()
    if n <= chunk_tokens:
        return _logprobs_entropy(head, hidden, targets, temperature)
    logprobs, entropies = [], []
    for start in range(0, n, chunk_tokens):
        stop = start + chunk_tokens
        lp, ent = checkpoint(
            _logprobs_entropy, head, hidden[start:stop], targets[start:stop], temperature, use_reentrant=False
        )
        logprobs.append(lp)
        entropies.append(ent)
    return torch.cat(logprobs), torch.cat(entropies)


def _logprobs_entropy(
    head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    logp = torch.log_softmax(head(hidden).float() / temperature, dim=-1)  # [chunk, vocab]
    token_logp = logp.gather(-1, targets[:, None]).squeeze(-1)  # [chunk]
    entropy = -(logp.exp() * logp).sum(-1)  # [chunk]
    return token_logp, entropy
