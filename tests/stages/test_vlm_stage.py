"""What SFT and GRPO share through ``VLMStage``: adapter-only checkpoints, checked key by key when they load."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.models.loading import LoraSettings, VLMLoader
from src.stages.grpo import GRPOModule
from src.stages.sft import VLMSFT
from src.stages.vlm_stage import AdapterCheckpointError


@pytest.mark.parametrize("stage", [VLMSFT, GRPOModule])
def test_adapter_checkpoints_hold_the_adapters_and_refuse_to_load_without_one(tiny_model_dir: Path, stage) -> None:
    """Adapter checkpoints load non-strictly (no frozen base in them): a renamed adapter key must not load nothing."""
    module = stage(VLMLoader(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4)))
    module.configure_model()
    assert module.is_peft and not module.strict_loading
    trainable = {f"model.{n}" for n, p in module.vlm.named_parameters() if p.requires_grad}
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    assert set(checkpoint["state_dict"]) == trainable  # the adapters, not the frozen base (nor a KL reference)

    module.on_load_checkpoint(checkpoint)  # complete: fine
    first = next(iter(sorted(trainable)))
    renamed = {k.replace("lora_A", "lora_down") if k == first else k: v for k, v in checkpoint["state_dict"].items()}
    with pytest.raises(AdapterCheckpointError, match="lacks 1 of"):
        module.on_load_checkpoint({"state_dict": renamed})


def test_full_fine_tuning_checkpoints_keep_the_policy_and_drop_the_kl_reference(tiny_model_dir: Path) -> None:
    module = GRPOModule(VLMLoader(str(tiny_model_dir), dtype="float32"), kl_coef=0.01)
    module.configure_model()
    assert module.reference_model is not None and module.strict_loading
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint["state_dict"] and all(k.startswith("model.") for k in checkpoint["state_dict"])
    module.on_load_checkpoint(checkpoint)
    assert not module.strict_loading  # the reference's weights are not in it: they are the start weights
