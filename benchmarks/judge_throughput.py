"""Judge throughput through the OpenAI-compatible server: concurrent clients against a one-at-a-time loop.

    python benchmarks/judge_throughput.py                      # tiny random Qwen3-VL on the CPU
    python benchmarks/judge_throughput.py --model Qwen/Qwen3-VL-8B-Instruct --max-tokens 256   # on a GPU

Everything runs in one process and one run, on the same requests, so ratios compare like with like:
- the critic prompt of ``builtin_profile().build_request`` over pairs of matplotlib bar charts (reference, candidate
  with changed values/colours), sent with the ``openai`` client as PNG data URLs, greedy, ``--max-tokens`` each;
- **baseline**: one request at a time through the same server (what a reward loop without concurrency does);
- 1, 8 and 32 concurrent clients: pairs/s and the ratio to the baseline (target: >= 4x at 32 clients);
- a **burst** of ``--burst`` requests fired at once at a server whose queue holds ``--burst-queue``: every request
  must come back answered or refused with a reason (429 + message); none may be lost; p50/p95 latency.
The tiny model seldom emits its end-of-sequence token, so almost every answer is exactly ``--max-tokens`` long and
each pair costs the same work. The server is warmed (one request) before any clock starts.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
from PIL import Image

from src.engines.engine import ChatRequest
from src.engines.hf_engine import HFEngine
from src.engines.openai_engine import openai_messages
from src.engines.server import BackgroundServer, ServerSettings, create_app
from src.reward.critic_profile import builtin_profile

TARGET_RATIO_AT_32 = 4.0
MODEL_NAME = "judge"


def bar_chart(values: list[float], color: str, title: str) -> Image.Image:
    """A small matplotlib bar chart as a PIL image (what a rendered candidate looks like)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.2, 2.4), dpi=80)
    ax.bar([f"Q{i + 1}" for i in range(len(values))], values, color=color)
    ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def judge_requests(count: int, seed: int = 0) -> list[ChatRequest]:
    rng = random.Random(seed)
    profile = builtin_profile()
    pairs = []
    for i in range(min(count, 16)):  # 16 distinct pairs, cycled: encoding cost is per request anyway
        values = [round(rng.uniform(5, 30), 1) for _ in range(4)]
        changed = [v * rng.choice((1.0, 1.0, 1.4)) for v in values]
        reference = bar_chart(values, "#4C72B0", f"Revenue {2020 + i}")
        candidate = bar_chart(changed, rng.choice(("#4C72B0", "#DD8452")), f"Revenue {2020 + i}")
        pairs.append(profile.build_request("chart", reference, candidate))
    return [pairs[i % len(pairs)] for i in range(count)]


class Client:
    """The openai client with our request shape; returns (status, seconds, reason)."""

    def __init__(self, base_url: str, max_tokens: int) -> None:
        self.client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=3600)
        self.max_tokens = max_tokens

    def ask(self, messages: Any) -> tuple[int, float, str]:
        started = time.perf_counter()
        try:
            reply = self.client.chat.completions.create(
                model=MODEL_NAME, messages=messages, temperature=0.0, max_tokens=self.max_tokens
            )
        except openai.APIStatusError as exc:
            return exc.status_code, time.perf_counter() - started, str(exc)
        except openai.APIError as exc:  # connection-level: counts as lost
            return 0, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
        ok = bool(reply.choices) and reply.choices[0].message.content is not None
        return (200 if ok else 0), time.perf_counter() - started, "" if ok else "empty reply"


def run_clients(ask: Callable[[Any], tuple[int, float, str]], payloads: list[Any], clients: int) -> dict[str, Any]:
    started = time.perf_counter()
    if clients == 0:  # the one-at-a-time loop
        results = [ask(p) for p in payloads]
    else:
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(ask, payloads))
    seconds = time.perf_counter() - started
    answered = [r for r in results if r[0] == 200]
    latencies = sorted(r[1] for r in answered)
    return {
        "requests": len(payloads),
        "answered": len(answered),
        "refused_with_reason": sum(1 for r in results if r[0] in (429, 503) and r[2]),
        "other_errors": sum(1 for r in results if r[0] not in (200, 429, 503)),
        "reasons": sorted({r[2][:120] for r in results if r[0] != 200})[:3],
        "seconds": seconds,
        "pairs_per_s": len(answered) / seconds,
        "p50_s": _quantile(latencies, 0.5),
        "p95_s": _quantile(latencies, 0.95),
    }


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint; default: build the tiny random Qwen3-VL")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on a GPU, float32 on the CPU")
    parser.add_argument("--max-tokens", type=int, default=32, help="critique length per pair")
    parser.add_argument("--baseline-requests", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3, help="requests per client in the concurrent runs")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--burst-queue", type=int, default=64, help="server queue limit during the burst")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model
        if model_path is None:
            from src.models.tiny import build_tiny_qwen3_vl

            model_path = str(build_tiny_qwen3_vl(Path(tmp) / "tiny"))
        import torch

        on_gpu = torch.cuda.is_available()
        dtype = args.dtype or ("bfloat16" if on_gpu else "float32")
        engine = HFEngine.from_pretrained(model_path, dtype=dtype, max_batch_size=max(args.clients))
        if on_gpu:
            engine.model.to("cuda")
        largest = max(args.clients)
        settings = ServerSettings(served_model_name=MODEL_NAME, max_batch_requests=largest, max_queue=4 * largest)
        app = create_app(engine, settings)
        requests = judge_requests(max(args.baseline_requests, largest * args.rounds, args.burst))
        messages = [openai_messages(r) for r in requests]
        report: dict[str, Any] = {"model": args.model or "tiny-qwen3-vl (random)", "max_tokens": args.max_tokens}
        with BackgroundServer(app) as server:
            client = Client(server.base_url, args.max_tokens)
            client.ask(messages[0])  # warm-up: first-call allocations and lazy imports stay off the clock
            report["baseline"] = run_clients(client.ask, messages[: args.baseline_requests], clients=0)
            for clients in args.clients:
                report[f"clients_{clients}"] = run_clients(client.ask, messages[: clients * args.rounds], clients)
            scheduler = app.state.scheduler
            settings.max_queue = args.burst_queue  # read per request: the burst meets a short queue
            report["burst"] = run_clients(client.ask, messages[: args.burst], clients=args.burst)
            report["largest_batch"] = scheduler.largest_batch

    base = report["baseline"]["pairs_per_s"]
    print(f"model: {report['model']}, {args.max_tokens} new tokens per pair, greedy, PNG data URLs")
    print(f"{'run':<26}{'pairs':>7}{'seconds':>9}{'pairs/s':>9}{'vs loop':>9}{'p50 s':>8}{'p95 s':>8}")
    for key in ("baseline", *(f"clients_{c}" for c in args.clients)):
        row = report[key]
        label = "one-at-a-time loop" if key == "baseline" else f"{key.split('_')[1]} concurrent clients"
        ratio = row["pairs_per_s"] / base
        row["ratio_to_loop"] = ratio
        print(
            f"{label:<26}{row['answered']:>7}{row['seconds']:>9.1f}{row['pairs_per_s']:>9.2f}{ratio:>8.1f}x"
            f"{row['p50_s']:>8.2f}{row['p95_s']:>8.2f}"
        )
    burst = report["burst"]
    lost = burst["requests"] - burst["answered"] - burst["refused_with_reason"]
    burst["lost"] = lost
    print(
        f"burst of {burst['requests']} at once (queue {args.burst_queue}): {burst['answered']} answered, "
        f"{burst['refused_with_reason']} refused with a reason, {lost} lost; answered p50 {burst['p50_s']:.2f} s, "
        f"p95 {burst['p95_s']:.2f} s; refusal: {burst['reasons'][:1]}"
    )
    print(f"largest batch the server ran: {report['largest_batch']} requests")
    at_32 = report.get(f"clients_{largest}", {}).get("ratio_to_loop")
    if at_32 is not None:
        verdict = "met" if at_32 >= TARGET_RATIO_AT_32 else "NOT met"
        print(f"target >= {TARGET_RATIO_AT_32:.0f}x at {largest} clients: {verdict} ({at_32:.1f}x)")
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
