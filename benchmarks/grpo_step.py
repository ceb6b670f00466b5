"""Seconds per phase of one GRPO step on the debug setup, and how much of the step waits on rendering + judging with
completions streamed to the scorer (``streaming: true``) against scoring after all generation (the baseline), in the
same run.

    python benchmarks/grpo_step.py                     # CPU: tiny policy + tiny in-process judge + real render pool
    python benchmarks/grpo_step.py --steps 6 --prompts 8
    python benchmarks/grpo_step.py --judge served      # judge in its own process behind tools/serve_openai.py

Setup (all real components): a tiny Qwen3-VL policy with LoRA, first taught by a few SFT steps to answer the SVG
prompt with a small SVG document that it sometimes closes and sometimes leaves unclosed (a random policy writes noise
that never renders, so nothing would reach the judge); the tiny random Qwen3-VL as an in-process Visual-ERM judge
(``HFEngine``), or with ``--judge served`` the same model behind ``tools/serve_openai.py`` in its own process, reached
through ``OpenAIEngine`` (the real layout: the judge never shares the trainer's interpreter), its critique budget
capped by ``--judge-tokens``; the sandboxed render pool; ``RolloutCallback``
and ``GRPOModule`` exactly as a training step runs them (rollout, batch building, loss + backward + AdamW, weight
push). The two modes alternate step by step so that load from other processes hits both alike.

"wait" is the time between the last generation finishing and the last score arriving: the part of the rollout that
streaming exists to hide. Target: wait <= 10% of the step with streaming on.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from src.data.prompts import build_policy_messages
from src.engines.engine import SamplingSettings, WeightUpdate
from src.engines.hf_engine import HFEngine
from src.models.loading import LoraSettings, VLMLoader, load_vlm_processor
from src.models.tiny import build_tiny_qwen3_vl
from src.render.pool import RenderPool
from src.reward.critic_profile import builtin_profile
from src.reward.reward import RewardConfig
from src.stages.grpo import GRPOModule
from src.stages.grpo_rollout import RolloutCallback
from src.testing.tiny_policy import teach_tiny_svg_policy


def reference_records(k: int, domain: str = "svg", size: tuple[int, int] = (96, 80)) -> list[dict]:
    records = []
    for i in range(k):
        image = Image.new("RGB", size, "white")
        ImageDraw.Draw(image).rectangle([8, 8 + i * 3, 60, 50], fill=(40 * i % 255, 90, 200))
        records.append(
            {"id": f"ref{i}", "domain": domain, "image": image, "messages": build_policy_messages(domain, image)}
        )
    return records


def timed_grpo_step(
    callback: RolloutCallback,
    module: GRPOModule,
    optimizer: torch.optim.Optimizer,
    engine: HFEngine,
    records: list[dict],
    version: int,
    synchronize: Callable[[], None] = lambda: None,
) -> dict[str, float]:
    """One GRPO step as training runs it (rollout, batch, loss + backward + AdamW, weight push); seconds per phase.

    ``synchronize`` (``torch.cuda.synchronize`` on a GPU) runs before each phase boundary is read, so queued kernels
    are charged to the phase that launched them.
    """
    start = time.perf_counter()
    groups, timing = callback.rollout(records, module)
    batch = callback.build_rollout_batch(groups, module)
    synchronize()
    train_start = time.perf_counter()
    loss, _ = module.rollout_loss(batch)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    synchronize()
    sync_start = time.perf_counter()
    engine.update_weights(WeightUpdate(version=version, module=module.vlm))
    synchronize()
    end = time.perf_counter()
    rendered = sum(r.ok for g in groups for r in g.renders)
    return {
        **timing,
        "build": train_start - start - sum(timing[k] for k in ("generate", "wait")),
        "train": sync_start - train_start,
        "sync": end - sync_start,
        "step": end - start,
        "rendered": rendered / sum(len(g.renders) for g in groups),
    }


def start_judge_server(model_dir: Path, timeout_s: float = 300) -> tuple[subprocess.Popen[bytes], str]:
    """``tools/serve_openai.py`` on a free loopback port; returns the process and its ``/v1`` URL once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    repo = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, str(repo / "tools" / "serve_openai.py"), "--model", str(model_dir), "--port", str(port)],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"tools/serve_openai.py exited with code {process.returncode}") from None
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"tools/serve_openai.py did not answer within {timeout_s} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="measured steps per mode (after one warm-up step each)")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--n", type=int, default=4, help="rollouts per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="policy completion budget")
    parser.add_argument("--judge-tokens", type=int, default=48, help="critique budget of the tiny judge")
    parser.add_argument("--render-workers", type=int, default=2)
    parser.add_argument("--sft-steps", type=int, default=50)
    parser.add_argument("--judge", choices=("in-process", "served"), default="in-process")
    args = parser.parse_args()
    # Here, not at the top: the judge module imports the openai client, and benchmarks/gpu_check.py imports this file
    # on machines without it.
    from src.reward.judge import VisualERMJudge

    with tempfile.TemporaryDirectory(prefix="grpo-bench-") as tmp:
        root = Path(tmp)
        tiny = build_tiny_qwen3_vl(root / "tiny", seed=0)
        policy_dir = teach_tiny_svg_policy(tiny, root / "policy", args.sft_steps)
        module = GRPOModule(
            VLMLoader(
                str(policy_dir), dtype="float32", attn_implementation="sdpa", lora=LoraSettings(r=8, dropout=0.0)
            ),
            lr=1e-3,
            max_completion_tokens=args.max_new_tokens,
        )
        module.processor = load_vlm_processor(module.loader)
        module.configure_model()
        optimizer = torch.optim.AdamW([p for p in module.vlm.parameters() if p.requires_grad], lr=1e-3)
        profile = builtin_profile()
        server = start_judge_server(tiny) if args.judge == "served" else None
        if server is not None:
            from src.engines.openai_engine import OpenAIEngine  # needs the openai client, only for a served judge

            judge_engine: HFEngine | OpenAIEngine = OpenAIEngine(server[1])
        else:
            judge_engine = HFEngine.from_pretrained(tiny)
        judge = VisualERMJudge(
            engine=judge_engine,
            profile=replace(profile, sampling=replace(profile.sampling, max_new_tokens=args.judge_tokens)),
            reward=RewardConfig(normalization="fixed"),
            retries=0,
        )
        engine = HFEngine(module.vlm, module.processor)
        records = reference_records(args.prompts)
        sampling = SamplingSettings(temperature=1.0, max_new_tokens=args.max_new_tokens)
        figures: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        version = 0
        with RenderPool(workers=args.render_workers, timeout_s=10) as pool:
            callbacks = {
                streaming: RolloutCallback(
                    reward=judge, render_pool=pool, engine=engine, n=args.n, sampling=sampling, streaming=streaming
                )
                for streaming in (False, True)
            }
            for step in range(args.steps + 1):
                for streaming in (False, True):
                    version += 1
                    row = timed_grpo_step(callbacks[streaming], module, optimizer, engine, records, version)
                    if step > 0:  # the first step of each mode warms caches and the browser-free workers
                        figures[streaming].append(row)
        if server is not None:
            server[0].terminate()
            server[0].wait(30)

    print(
        f"one GRPO step, debug setup: {args.prompts} prompts x {args.n} rollouts, policy <= {args.max_new_tokens} "
        f"tokens, judge ({args.judge}) <= {args.judge_tokens} tokens, {args.render_workers} render workers; "
        f"median of {args.steps}"
    )
    phases = ("generate", "render", "reward", "wait", "build", "train", "sync", "step")
    print(f"{'mode':<22}" + "".join(f"{p:>10}" for p in phases) + f"{'wait/step':>11}{'rendered':>10}")
    for streaming, name in ((False, "score after generation"), (True, "streaming")):
        rows = figures[streaming]
        medians = {p: statistics.median(r[p] for r in rows) for p in phases}
        wait_share = statistics.median(r["wait"] / r["step"] for r in rows)
        rendered = statistics.mean(r["rendered"] for r in rows)
        print(f"{name:<22}" + "".join(f"{medians[p]:>9.2f}s" for p in phases) + f"{wait_share:>10.1%}{rendered:>10.0%}")
    print(
        "streaming: render/reward run in scoring threads and overlap generate ('wait' is what is left); scored after "
        "generation: on the training thread ('wait' is the whole scoring)."
    )


if __name__ == "__main__":
    main()
