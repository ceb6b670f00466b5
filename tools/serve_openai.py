"""Serve a Hugging Face vision-language model (the judge or a policy) behind an OpenAI-compatible chat API.

    python tools/serve_openai.py --model PATH_OR_ID --host 127.0.0.1 --port 8000 [--served-model-name NAME]

Then any OpenAI client (``base_url="http://127.0.0.1:8000/v1"``), the public Visual-ERM reward code, or our
``OpenAIEngine`` can call it. Adapters: ``--lora-modules name=path`` at start (vLLM's flag), or at run time with
``POST /v1/load_lora_adapter {"lora_name": ..., "lora_path": ...}``. See ``src/engines/server.py`` for the API.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

import torch


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="Hugging Face id or local checkpoint directory")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", default=None, help="name clients use as `model` (default: --model)")
    parser.add_argument("--dtype", choices=["auto", "bfloat16", "float16", "float32"], default="auto")
    parser.add_argument("--device", default="auto", help="cuda, cpu, or auto (cuda when available)")
    parser.add_argument("--lora-modules", nargs="*", default=[], metavar="NAME=PATH", help="adapters to load at start")
    parser.add_argument("--max-batch-size", type=int, default=32, help="rows (prompts x n) per generate call")
    parser.add_argument("--max-batch-requests", type=int, default=32, help="requests gathered into one engine call")
    parser.add_argument("--batch-window-ms", type=float, default=10.0, help="how long a lone request waits for others")
    parser.add_argument("--max-queue", type=int, default=256, help="waiting + running requests before 429")
    parser.add_argument("--max-tokens", type=int, default=4096, help="largest (and default) max_tokens")
    args = parser.parse_args(argv)

    if not _is_loopback(args.host):
        print(f"warning: listening on {args.host}, reachable from other machines", file=sys.stderr)

    import uvicorn

    from src.engines.hf_engine import HFEngine
    from src.engines.server import ServerSettings, create_app

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    dtype = args.dtype if args.dtype != "auto" else ("bfloat16" if device.startswith("cuda") else "float32")
    engine = HFEngine.from_pretrained(args.model, dtype=dtype, max_batch_size=args.max_batch_size)
    engine.model.to(device)
    for spec in args.lora_modules:
        name, sep, path = spec.partition("=")
        if not sep:
            parser.error(f"--lora-modules: expected NAME=PATH, got {spec!r}")
        engine.load_adapter(name, path)
    settings = ServerSettings(
        served_model_name=args.served_model_name or args.model,
        max_batch_requests=args.max_batch_requests,
        batch_window_s=args.batch_window_ms / 1000,
        max_queue=args.max_queue,
        max_tokens_limit=args.max_tokens,
    )
    uvicorn.run(create_app(engine, settings), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
