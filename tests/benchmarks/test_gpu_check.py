"""``benchmarks/gpu_check.py`` stays runnable: GPU time is too scarce to find a broken check on the GPU.

The tiny run goes through ``python -m benchmarks.gpu_check`` from the repository root, exactly as ``make gpu-check``
calls it. The lent GPU image lacks jsonargparse, bitsandbytes, openai, cairosvg and playwright (and flash-attn and
vLLM): one run hides them (``sys.modules[name] = None``, what Python's import system reads as "not installed") and
checks that the parts needing them are skipped with the reason and the rest still run.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
MISSING_ON_GPU_IMAGE = (
    "jsonargparse", "bitsandbytes", "openai", "apted", "cairosvg", "playwright", "flash_attn", "vllm", "fastapi",
    "uvicorn",
)  # fmt: skip


def run_check(out: Path, *args: str, hide: tuple[str, ...] = ()) -> dict:
    code = (
        "import sys\n"
        f"for name in {list(hide)!r}: sys.modules[name] = None\n"
        "from benchmarks.gpu_check import main\n"
        f"main({['--tiny', '--out', str(out), *args]!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert (out / "gpu_check.md").read_text().startswith("GPU check:")
    return report


def rows_of(report: dict, part: str) -> list[dict]:
    return report["parts"][part]["rows"]


@pytest.mark.slow
def test_tiny_run_measures_every_part(tmp_path: Path) -> None:
    report = run_check(tmp_path)
    assert report["shape"] == "tiny"
    assert list(report["parts"]) == ["environment", "sft", "grpo", "qlora", "fsdp"]
    for name, part in report["parts"].items():
        assert part["status"] == "ok", (name, part["rows"])
    sft = rows_of(report, "sft")
    assert sft[0]["variant"] == "plain transformers+peft" and sft[0]["vs_plain"] == 1.0
    assert len(sft) == 8 and all(r["tokens_per_s"] > 0 and r["peak_gib"] > 0 for r in sft)
    assert any("compiled blocks" in r["variant"] for r in sft)
    assert all(r["tokens_per_s"] > 0 for r in rows_of(report, "qlora"))
    (fsdp,) = rows_of(report, "fsdp")
    assert fsdp["tokens_per_s"] > 0 and "single-device" in fsdp["note"]
    grpo = rows_of(report, "grpo")
    assert [r["variant"] for r in grpo] == ["step 1", "step 2", "judge call"]
    assert "generate" in grpo[1]["note"] and grpo[1]["s_per_step"] > 0


def test_parts_needing_missing_packages_are_skipped_with_the_reason(tmp_path: Path) -> None:
    parts = ("environment", "qlora", "fsdp", "grpo")
    report = run_check(tmp_path, "--parts", *parts, "--grpo-steps", "1", hide=MISSING_ON_GPU_IMAGE)
    env = {r["variant"]: r for r in rows_of(report, "environment")}
    for name in set(MISSING_ON_GPU_IMAGE) & set(env):
        assert env[name]["status"] == "missing", env[name]
    assert "sdpa" in env["flash_attn"]["note"] and "HF generate" in env["vllm"]["note"]
    (qlora,) = rows_of(report, "qlora")
    assert qlora["status"] == "skipped" and "bitsandbytes" in qlora["note"]
    (fsdp,) = rows_of(report, "fsdp")
    assert fsdp["status"] == "skipped" and "jsonargparse" in fsdp["note"]
    # The step runs (charts render with matplotlib alone), and the judge with it: only OpenAIEngine needs the openai
    # client, which the judge imports only when it meets one.
    grpo = rows_of(report, "grpo")
    assert [r["status"] for r in grpo] == ["ok", "ok"]
    assert "render-only" not in grpo[0]["note"]


@pytest.fixture
def gpu_check(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    monkeypatch.syspath_prepend(str(REPO))  # the benchmarks run from the root; undone after the test
    return importlib.import_module("benchmarks.gpu_check")


def test_out_of_memory_halves_the_batch_and_says_so(gpu_check: types.ModuleType, tmp_path: Path) -> None:
    from benchmarks.train_step import make_samples

    config = types.SimpleNamespace(
        image_token_id=10, video_token_id=11, vision_start_token_id=12, vision_end_token_id=13,
        text_config=types.SimpleNamespace(vocab_size=4096),
    )  # fmt: skip
    preset = gpu_check.replace(gpu_check.TINY, batch=4)
    samples = make_samples(preset, config, "fixed")
    args = gpu_check.parse_args(["--tiny", "--out", str(tmp_path)])
    args.steps, args.warmup = 1, 0
    ctx = gpu_check.Context(args, "cpu", torch.float32, preset, "tiny", tmp_path, deadline=float("inf"))
    seen = []

    def make_step(inputs: dict[str, torch.Tensor], labels: torch.Tensor):
        def step() -> None:
            seen.append(inputs["input_ids"].shape[0])
            if inputs["input_ids"].shape[0] > 1:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

        return step

    row = gpu_check.run_variant(ctx, "sft", "v", make_step, samples, n_params=1000, flops_per_param_token=4)
    assert seen == [4, 2, 1]
    assert row["status"] == "partial" and row["batch"] == "1x128" and row["note"] == "oom at batch 4, 2"

    def always_oom(inputs: dict[str, torch.Tensor], labels: torch.Tensor):
        def step() -> None:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

        return step

    row = gpu_check.run_variant(ctx, "sft", "v", always_oom, samples, n_params=1000, flops_per_param_token=4)
    assert row["status"] == "oom" and row["note"] == "oom at batch 4, 2, 1"


def test_fsdp_retry_depth_fits_a_single_80_gb_gpu(gpu_check: types.ModuleType) -> None:
    """Full fine-tuning of the 36-layer 8B shape needs ~140 GB (16 bytes a parameter); the retry depth must be one that
    fits 80 GB beside the embeddings, head and vision tower, and no depth fits a device smaller than those."""
    eight_b = gpu_check.PRESETS["8b"]
    assert 1 <= gpu_check.layers_that_fit(eight_b, 79.0) < eight_b.text["num_hidden_layers"]
    assert gpu_check.layers_that_fit(eight_b, 16.0) < 1
