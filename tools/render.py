"""Render one source file, or a JSONL of jobs, to PNGs through the sandboxed pool.

    python tools/render.py chart.py --out renders/
    python tools/render.py table.md --domain table --out renders/
    python tools/render.py jobs.jsonl --out renders/ --workers 2 --cache-dir .render-cache

A JSONL line is ``{"domain": "chart"|"table"|"svg", "source": "...", "id": "optional-name"}`` (plus any
``RenderJob`` option such as ``max_side``). PNGs are written as ``<id>.png`` (``<line number>.png`` without an id);
failures are summarized by kind at the end. A failed render is data, so the exit code is 0 unless the input
itself is unreadable.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from src.render import DOMAINS, RenderJob, RenderPool

EXTENSION_DOMAIN = {".py": "chart", ".html": "table", ".htm": "table", ".md": "table", ".svg": "svg"}
JOB_OPTIONS = {f.name for f in dataclasses.fields(RenderJob)} - {"domain", "source", "tag"}


def read_jobs(path: Path, domain: str | None) -> list[tuple[str, RenderJob]]:
    """(output name, job) pairs from a JSONL file or a single source file."""
    if path.suffix == ".jsonl":
        jobs = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                options = {k: v for k, v in row.items() if k in JOB_OPTIONS}
                job = RenderJob(domain=row.get("domain", domain), source=row["source"], **options)
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"{path}:{number}: not a render job ({type(exc).__name__}: {exc})") from None
            name = re.sub(r"[^\w.-]", "_", str(row.get("id", number)))
            jobs.append((name, job))
        return jobs
    domain = domain or EXTENSION_DOMAIN.get(path.suffix)
    if domain is None:
        raise SystemExit(f"{path}: cannot tell the domain from {path.suffix!r}; pass --domain {{{','.join(DOMAINS)}}}")
    return [(path.stem, RenderJob(domain=domain, source=path.read_text()))]  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="a .py/.html/.md/.svg file, or a .jsonl of jobs")
    parser.add_argument("--out", type=Path, required=True, help="directory for the PNGs")
    parser.add_argument("--domain", choices=DOMAINS, help="override the domain guessed from the extension")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout-s", type=float, default=15.0)
    parser.add_argument("--memory-mb", type=int, default=2048)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--batch", type=int, default=64, help="jobs handed to the pool at a time (progress grain)")
    args = parser.parse_args(argv)

    if not args.input.is_file():
        raise SystemExit(f"{args.input}: no such file")
    jobs = read_jobs(args.input, args.domain)
    args.out.mkdir(parents=True, exist_ok=True)
    failures: Counter[str] = Counter()
    examples: dict[str, str] = {}
    with (
        RenderPool(
            workers=args.workers, timeout_s=args.timeout_s, memory_mb=args.memory_mb, cache_dir=args.cache_dir
        ) as pool,
        tqdm(total=len(jobs), unit="job", desc="render") as progress,
    ):
        for start in range(0, len(jobs), args.batch):
            batch = jobs[start : start + args.batch]
            for (name, _), result in zip(batch, pool.render([job for _, job in batch]), strict=True):
                if result.ok:
                    (args.out / f"{name}.png").write_bytes(result.png)  # type: ignore[arg-type]
                else:
                    failures[result.error_kind or "unknown"] += 1
                    examples.setdefault(result.error_kind or "unknown", f"{name}: {result.message[:160]}")
            progress.update(len(batch))
    ok = len(jobs) - sum(failures.values())
    print(f"rendered {ok}/{len(jobs)} to {args.out}")
    for kind, count in failures.most_common():
        print(f"  {kind:<14} {count:>6}   e.g. {examples[kind]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
