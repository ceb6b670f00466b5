"""Merge a LoRA adapter (peft format, as ``save_adapter`` writes it) into its base model for serving.

    python tools/merge_lora.py --base Qwen/Qwen3-VL-8B-Instruct --adapter runs/rm/adapter --out runs/rm/merged

The output is a plain transformers checkpoint with its processor: ``vllm serve runs/rm/merged`` and
``from_pretrained`` load it like any released model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from src.models.loading import merge_adapter


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="base model: Hugging Face id or local directory")
    parser.add_argument("--adapter", type=Path, required=True, help="peft adapter directory")
    parser.add_argument("--out", type=Path, required=True, help="directory for the merged checkpoint")
    parser.add_argument("--dtype", choices=["bfloat16", "float16", "float32"], default="bfloat16")
    args = parser.parse_args(argv)
    out = merge_adapter(args.base, args.adapter, args.out, dtype=args.dtype)
    print(f"merged checkpoint written to {out}")
    return out


if __name__ == "__main__":
    main()
