"""VLMSFT end to end through the real CLI on the tiny Qwen3-VL, plus the loss shortcut and resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch import Callback

from src.cli import main
from src.models.loading import VLMLoader, load_vlm
from src.stages.sft import IGNORE_INDEX, answer_token_loss, chunked_cross_entropy, compile_repeated_blocks

DEBUG_CONFIG = Path(__file__).parents[2] / "configs" / "reward_sft" / "debug.yaml"


def _cli_args(root: Path, model_dir: Path, data_dir: Path, *extra: str, subcommand: bool = True) -> list[str]:
    return [
        *(["fit"] if subcommand else []),
        "--config",
        str(DEBUG_CONFIG),
        "--trainer.default_root_dir",
        str(root),
        "--model.init_args.loader.name_or_path",
        str(model_dir),
        "--data.init_args.data_dir",
        str(data_dir),
        *extra,
    ]


class RecordBatches(Callback):
    """Remembers the pair ids of every trained batch, in order."""

    def __init__(self) -> None:
        self.ids: list[list[str]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.ids.append(list(batch["ids"]))


class CrashAfter(Callback):
    """Simulates a killed run: raises at the next batch once ``steps`` steps (and their checkpoint) are done."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step >= self.steps:
            raise RuntimeError("simulated crash")


def test_answer_token_loss_equals_full_logits_loss(tiny_model_dir: Path) -> None:
    """Computing logits only at answer positions must give exactly the loss of the plain full-logits path."""
    model, processor = load_vlm(
        VLMLoader(name_or_path=str(tiny_model_dir), dtype="float32", attn_implementation="eager")
    )
    model.eval()
    torch.manual_seed(0)
    input_ids = torch.randint(10, 200, (2, 24))
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[0, 15:] = input_ids[0, 15:]
    labels[1, 10:20] = input_ids[1, 10:20]
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    ours = answer_token_loss(model, inputs, labels)
    reference = model(**inputs, labels=labels).loss
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)


def test_chunked_cross_entropy_matches_one_shot_loss_and_gradients() -> None:
    """Chunking (and recomputing each chunk's logits in the backward) must not change the loss or any gradient."""
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=False)
    hidden = torch.randn(23, 16, requires_grad=True)
    targets = torch.randint(0, 50, (23,))
    results = []
    for chunk in (1000, 5):  # one shot, then 5 chunks with a ragged last one
        head.zero_grad()
        hidden.grad = None
        loss = chunked_cross_entropy(head, hidden, targets, chunk)
        loss.backward()
        results.append((loss.detach(), hidden.grad.clone(), head.weight.grad.clone()))
    for one_shot, chunked in zip(results[0], results[1], strict=True):
        torch.testing.assert_close(chunked, one_shot)
    torch.testing.assert_close(results[0][0], torch.nn.functional.cross_entropy(head(hidden), targets))
    with pytest.raises(ValueError, match="chunk_tokens"):
        chunked_cross_entropy(head, hidden, targets, 0)


def test_compiled_blocks_give_the_eager_loss(tiny_model_dir: Path) -> None:
    """Regional compilation replaces every decoder layer and vision block and leaves the loss unchanged."""
    loader = VLMLoader(name_or_path=str(tiny_model_dir), dtype="float32", attn_implementation="sdpa")
    model, _ = load_vlm(loader)
    model.eval()
    input_ids = torch.randint(10, 200, (2, 24))
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[:, 12:] = input_ids[:, 12:]
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    graphs = []

    def recording_backend(graph_module, example_inputs):  # a torch.compile backend that runs the graph eagerly
        graphs.append(graph_module)
        return graph_module.forward

    with torch.no_grad():
        eager = answer_token_loss(model, inputs, labels)
        n_blocks = compile_repeated_blocks(model, backend=recording_backend)
        compiled = answer_token_loss(model, inputs, labels)
    config = model.config
    assert n_blocks == config.text_config.num_hidden_layers + config.vision_config.depth
    assert graphs, "the compiled blocks never went through torch.compile"
    torch.testing.assert_close(compiled, eager)
    with pytest.raises(TypeError, match="_no_split_modules"):
        compile_repeated_blocks(torch.nn.Linear(2, 2))


def test_answer_token_loss_rejects_batch_without_answer(tiny_model_dir: Path) -> None:
    model, _ = load_vlm(VLMLoader(name_or_path=str(tiny_model_dir), dtype="float32"))
    ids = torch.randint(10, 200, (1, 8))
    with pytest.raises(ValueError, match="no answer tokens"):
        answer_token_loss(model, {"input_ids": ids}, torch.full_like(ids, IGNORE_INDEX))


def test_debug_config_fit_end_to_end(tmp_path: Path, tiny_model_dir: Path, synth_dir: Path) -> None:
    """The debug YAML trains, validates with generation, checkpoints, saves its config and a peft adapter."""
    cli = main(_cli_args(tmp_path, tiny_model_dir, synth_dir))
    trainer = cli.trainer
    assert trainer.global_step == 4
    metrics = trainer.callback_metrics
    assert torch.isfinite(metrics["train/loss"])
    assert torch.isfinite(metrics["val/loss"])
    assert 0.0 <= float(metrics["val/parse_rate"]) <= 1.0
    # the config's ThroughputMonitor counts real tokens through the stage's batch hooks
    assert float(trainer.logged_metrics["train/device/items_per_sec"]) > 0
    assert cli.model.flops_per_batch > 0
    for name in ("val/precision", "val/recall", "val/f1"):
        assert name in metrics
    log_dir = Path(trainer.log_dir)
    saved = yaml.safe_load((log_dir / "config.yaml").read_text())
    assert saved["model"]["init_args"]["loader"]["name_or_path"] == str(tiny_model_dir)
    ckpts = sorted(p.name for p in log_dir.rglob("*.ckpt"))
    assert "last.ckpt" in ckpts
    adapter = log_dir / "adapter"
    assert json.loads((adapter / "adapter_config.json").read_text())["peft_type"] == "LORA"
    assert (adapter / "adapter_model.safetensors").exists()
    # Checkpoints hold only the trainable (LoRA) weights, not the frozen base.
    state = torch.load(log_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    assert state and all("lora_" in k for k in state)


def test_debug_config_builds_tiny_model_when_missing(tmp_path: Path, synth_dir: Path) -> None:
    missing = tmp_path / "tiny"
    cli = main(
        _cli_args(tmp_path / "run", missing, synth_dir, "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0")
    )
    assert cli.trainer.global_step == 1
    assert (missing / "config.json").exists()


def test_resume_mid_epoch_continues_steps_without_repeating_data(
    tmp_path: Path, tiny_model_dir: Path, synth_dir: Path
) -> None:
    """Kill after 2 of 4 steps, resume from last.ckpt: 4 steps in all, and the epoch's pairs are not seen twice."""
    common = ("--trainer.limit_val_batches", "0", "--trainer.max_epochs", "1", "--trainer.max_steps", "4")
    full = RecordBatches()
    cli = main(_cli_args(tmp_path / "full", tiny_model_dir, synth_dir, *common, subcommand=False), run=False)
    cli.trainer.callbacks.append(full)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.global_step == 4

    first = RecordBatches()
    cli = main(_cli_args(tmp_path / "killed", tiny_model_dir, synth_dir, *common, subcommand=False), run=False)
    cli.trainer.callbacks += [first, CrashAfter(2)]
    with pytest.raises(RuntimeError, match="simulated crash"):
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    last = next((tmp_path / "killed").rglob("last.ckpt"))
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 2

    second = RecordBatches()
    cli = main(_cli_args(tmp_path / "resumed", tiny_model_dir, synth_dir, *common, subcommand=False), run=False)
    cli.trainer.callbacks.append(second)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=str(last))
    assert cli.trainer.global_step == 4

    seen = [i for batch in first.ids[:2] + second.ids for i in batch]
    assert len(seen) == len(set(seen)), "a pair was trained twice in the resumed epoch"
    assert first.ids[:2] + second.ids == full.ids, "the resumed run must continue the uninterrupted order"
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_qlora_debug_run_trains_adapters_on_a_4bit_base(tmp_path: Path, tiny_model_dir: Path, synth_dir: Path) -> None:
    """The QLoRA path of the 8B config, on the tiny model: NF4 base (bitsandbytes runs it on the CPU), LoRA on top."""
    import bitsandbytes as bnb

    cli = main(
        _cli_args(
            tmp_path,
            tiny_model_dir,
            synth_dir,
            "--model.init_args.loader.quantization",
            "nf4",
            "--trainer.max_steps",
            "2",
            "--trainer.limit_val_batches",
            "0",
        )
    )
    assert cli.trainer.global_step == 2
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])
    modules = list(cli.model.vlm.modules())
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in modules), "the base was not quantized"
    trainable = [n for n, p in cli.model.vlm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert (Path(cli.trainer.log_dir) / "adapter" / "adapter_config.json").exists()


def test_packed_chunked_compiled_run_through_the_cli(tmp_path: Path, tiny_model_dir: Path, synth_dir: Path) -> None:
    """The speed options are plain config switches: packed batches, a small loss chunk and compiled blocks train and
    validate (with generation) end to end; packing under sdpa warns that it does not pay there."""
    with pytest.warns(UserWarning, match="block-diagonal mask"):
        cli = main(
            _cli_args(
                tmp_path,
                tiny_model_dir,
                synth_dir,
                "--data.init_args.packing",
                "true",
                "--model.init_args.loss_chunk_tokens",
                "16",
                "--model.init_args.compile_layers",
                "true",
                "--model.init_args.compile_backend",
                "aot_eager",
                "--trainer.max_steps",
                "2",
                "--trainer.val_check_interval",
                "2",
                "--trainer.limit_val_batches",
                "1",
            )
        )
    assert cli.trainer.global_step == 2
    metrics = cli.trainer.callback_metrics
    assert torch.isfinite(metrics["train/loss"]) and torch.isfinite(metrics["val/loss"])
    assert "val/parse_rate" in metrics  # generation ran on the padded prompts of a packed validation batch
    assert any(getattr(m, "_compiled_call_impl", None) is not None for m in cli.model.vlm.modules())


def test_flops_per_batch_follows_the_stage_and_the_training_mode(tiny_model_dir: Path) -> None:
    """4N per token when only adapters train, 6N for full fine-tuning, 2N (forward only) outside training."""
    import lightning as L

    from src.models.loading import LoraSettings
    from src.stages.sft import VLMSFT

    for lora, per_token in ((LoraSettings(), 4), (None, 6)):
        module = VLMSFT(VLMLoader(name_or_path=str(tiny_model_dir), dtype="float32", lora=lora))
        module.configure_model()
        n_params = sum(p.numel() for p in module.vlm.parameters())
        module._batch_tokens = 100
        trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
        module.trainer = trainer
        trainer.training = True
        assert module.flops_per_batch == per_token * n_params * 100
        trainer.validating = True
        assert module.flops_per_batch == 2 * n_params * 100


class CountLayerForwards(Callback):
    """Counts calls into the first decoder layer's MLP during each training batch.

    A pre-hook on a submodule, because HF checkpoints the layer's ``forward`` (hooks on the layer itself do not see
    the recompute) and torch stops a recompute once the last saved tensor is back (inside the MLP, so the MLP's
    post-forward hook would not fire either)."""

    def __init__(self) -> None:
        self.per_batch: list[int] = []
        self._calls = 0

    def on_train_start(self, trainer, pl_module) -> None:
        mlp = pl_module.vlm.get_base_model().model.language_model.layers[0].mlp
        mlp.register_forward_pre_hook(lambda *_: setattr(self, "_calls", self._calls + 1))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._calls = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.per_batch.append(self._calls)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_gradient_checkpointing_really_recomputes_layers_in_training(
    tmp_path: Path, tiny_model_dir: Path, synth_dir: Path, checkpointing: bool
) -> None:
    """With checkpointing on, every decoder layer runs again in the backward; off, once. (from_pretrained hands back
    an eval-mode model, and HF skips checkpointing in eval mode: the stage must put the model in train mode.)"""
    counter = CountLayerForwards()
    extra = ("--trainer.max_steps", "2", "--trainer.limit_val_batches", "0")
    extra += ("--model.init_args.loader.gradient_checkpointing", str(checkpointing).lower())
    cli = main(_cli_args(tmp_path, tiny_model_dir, synth_dir, *extra, subcommand=False), run=False)
    cli.trainer.callbacks.append(counter)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert counter.per_batch == ([2, 2] if checkpointing else [1, 1])


def test_batches_of_only_corrupt_rows_do_not_crash_training(
    tmp_path: Path, tiny_model_dir: Path, pair_shards: Path
) -> None:
    """Every training image truncated: each batch arrives empty; the steps are skipped and the rows counted."""
    shards = tmp_path / "shards"
    shutil.copytree(pair_shards, shards)
    for png in (shards / "images").rglob("*.png"):
        png.write_bytes(png.read_bytes()[:120])
    extra = ("--trainer.max_steps", "2", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "0")
    with pytest.warns(UserWarning, match="no usable rows"):
        cli = main(_cli_args(tmp_path / "run", tiny_model_dir, shards, *extra))
    assert cli.trainer.global_step == 2  # the loop went on (Lightning counts a step whose loss was None)
    lora_b = [p for n, p in cli.model.vlm.named_parameters() if "lora_B" in n]
    assert lora_b and all(not p.any() for p in lora_b), "an empty batch must not move the weights"
    assert float(cli.trainer.callback_metrics["train/skipped_corrupt"]) == 4  # 2 batches of 2 pairs
