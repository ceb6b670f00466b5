"""Write the tiny random-weight Qwen3-VL (tokenizer, chat template, processor included) to a directory.

    python tools/make_tiny_model.py --out models/tiny-qwen3-vl [--seed 0]

It is the embedded default of the tests, the debug configs and the README's demo: no download, ~1 MB, seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from src.models.tiny import build_tiny_qwen3_vl


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="directory to write the model into")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tokenizer corpus and the random weights")
    args = parser.parse_args(argv)
    out = build_tiny_qwen3_vl(args.out, seed=args.seed)
    print(f"tiny Qwen3-VL written to {out}")
    return out


if __name__ == "__main__":
    main()
