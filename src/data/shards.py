"""Shard I/O: JSONL manifests that survive a kill, content-addressed PNGs, and reading rows back with their line.

A shard directory holds one manifest per split (``train.jsonl``, ``val.jsonl``, ``bench.jsonl``), a ledger of
dropped pairs (``drops.jsonl``) and ``images/ab/abcdef….png`` named by the sha256 of their bytes, so a reference
image shared by several candidates, or an identical candidate, is stored once.

Why one ``write`` + ``fsync`` per row: a kill can then lose at most the line being written, never an earlier one,
and a torn last line is detected (no trailing newline) and cut off on reopen. Images are written (tmp + rename)
before the row that names them, so a row on disk always points at a complete PNG.

Two row layouts are read back, told apart by their keys:
- ours (train/val): ``id, domain, reference_image, candidate_image, reference_source, candidate_source,
  critique`` (official critique JSON), ``perturbations``, ``seed``;
- VC-RewardBench (our bench split, and the official file): ``gt_img_path, pred_img_path, category,
  human_errors``. Relative image paths resolve against the manifest's folder, else (the official file's own
  convention) against the working directory.

The official evaluator (``evaluation/evaluation.py`` of InternLM/Visual-ERM) reads one JSON *list* of bench rows,
each with the judge's answer under ``pred_json``; it keeps a reference error only when its ``type`` key is one of the
domain's ``*_error`` names, and a predicted one by ``type`` or ``category``. ``official_human_errors`` writes both
keys, and ``prediction_row`` / ``write_predictions`` write that list, so the evaluator runs on our files unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from src.data.schema import Critique, SchemaError
from src.render.job import DOMAINS

SPLITS: tuple[str, ...] = ("train", "val", "bench")
# Shares of pairs per split (percent); the bench split is small because the official benchmark is the main one.
SPLIT_PERCENT: dict[str, int] = {"train": 90, "val": 5, "bench": 5}
DROPS_FILE = "drops.jsonl"


class CorruptRowError(ValueError):
    """A manifest row that cannot be used; the message starts with ``file:line``."""

    def __init__(self, path: Path, line_no: int, reason: str) -> None:
        self.path = Path(path)
        self.line_no = line_no
        self.reason = reason
        super().__init__(f"{path}:{line_no}: {reason}")


def report_corrupt(
    err: CorruptRowError, on_corrupt: Literal["skip", "raise"], corrupt: list[CorruptRowError] | None = None
) -> None:
    """Raise ``err``, or warn about it and append it to ``corrupt``: the one policy for every manifest reader."""
    if on_corrupt == "raise":
        raise err from None
    warnings.warn(str(err), stacklevel=3)
    if corrupt is not None:
        corrupt.append(err)


def split_of(pair_id: str) -> str:
    """Deterministic split from a hash of the id, so a resumed or re-run synthesis puts a pair where it was."""
    bucket = int(hashlib.sha256(pair_id.encode()).hexdigest()[:8], 16) % 100
    edge = 0
    for split in SPLITS:
        edge += SPLIT_PERCENT[split]
        if bucket < edge:
            return split
    return SPLITS[-1]


def official_human_errors(critique: Critique) -> list[dict[str, Any]]:
    """VC-RewardBench ``human_errors``: official error objects carrying both ``type`` and ``category``.

    The official evaluator filters reference errors by ``type`` only (chart/SVG critiques name it ``category``), so
    both keys are written whatever the domain.
    """
    out = []
    for err in critique.to_official()["errors"]:
        label = err.get("category", err.get("type"))
        out.append({**err, "type": label, "category": label})
    return out


def prediction_row(
    pair: PairRecord, prediction: Critique | None, raw_text: str, relative_to: str | Path | None = None
) -> dict[str, Any]:
    """One item of the official evaluator's input: the bench row of ``pair`` plus the judge's answer.

    ``pred_json`` is the official critique JSON, or ``{}`` when the answer did not parse (the evaluator then counts
    no predicted errors, as for a critique that finds none). Image paths are written relative to ``relative_to``
    (default: the working directory, where the evaluator resolves them), absolute when they lie outside it.
    """
    base = Path(relative_to) if relative_to is not None else Path.cwd()

    def where(path: Path) -> str:
        resolved = path.resolve()
        try:
            return str(resolved.relative_to(base.resolve()))
        except ValueError:
            return str(resolved)

    pred_json = prediction.to_official() if prediction is not None else {}
    if prediction is not None:
        pred_json["errors"] = official_human_errors(prediction)
    return {
        "id": pair.id,
        "category": pair.domain,
        "gt_img_path": where(pair.reference_image),
        "pred_img_path": where(pair.candidate_image),
        "human_errors": official_human_errors(pair.critique),
        "pred_json": pred_json,
        "pred_text": raw_text,
    }


def write_predictions(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``prediction_row`` items as one JSON list (the evaluator ``json.load``s the whole file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def image_relpath(png: bytes) -> str:
    """Content address of a PNG: ``images/ab/<sha256>.png`` (two-letter fan-out keeps folders small)."""
    digest = hashlib.sha256(png).hexdigest()
    return f"images/{digest[:2]}/{digest}.png"


def append_line(path: Path, obj: dict[str, Any]) -> None:
    """Append one JSON object as one line with a single write, flushed and fsync'd (a kill loses at most it)."""
    data = (json.dumps(obj, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def repair_torn_tail(path: Path) -> bool:
    """Cut off a last line without a newline (a write torn by a kill); return whether anything was cut."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return False
        # Walk back to the previous newline; chunks keep this cheap for large manifests.
        pos = size
        keep = 0
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            f.seek(pos)
            chunk = f.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = pos + nl + 1
                break
        f.truncate(keep)
    warnings.warn(f"{path}: cut a torn last line (interrupted write) at byte {keep}", stacklevel=2)
    return True


class ShardWriter:
    """Appends rows to a shard directory; knows which pair ids are already recorded (kept or dropped)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        (self.out_dir / "images").mkdir(parents=True, exist_ok=True)
        self.kept_ids: set[str] = set()
        self.dropped_ids: set[str] = set()
        for name in [*(f"{s}.jsonl" for s in SPLITS), DROPS_FILE]:
            path = self.out_dir / name
            repair_torn_tail(path)
            ids = self.dropped_ids if name == DROPS_FILE else self.kept_ids
            for _, row in iter_jsonl(path, on_corrupt="skip"):
                if "id" in row:
                    ids.add(str(row["id"]))

    def is_done(self, pair_id: str) -> bool:
        """Whether a resumed run must skip this id: it was kept or dropped before."""
        return pair_id in self.kept_ids or pair_id in self.dropped_ids

    def put_image(self, png: bytes) -> str:
        """Store a PNG under its content address (once); return the path relative to the shard directory."""
        rel = image_relpath(png)
        path = self.out_dir / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(png)
            os.replace(tmp, path)
        return rel

    def add_row(self, split: str, row: dict[str, Any]) -> None:
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {SPLITS}")
        append_line(self.out_dir / f"{split}.jsonl", row)
        self.kept_ids.add(str(row["id"]))

    def add_drop(self, pair_id: str, domain: str, reason: str, message: str = "") -> None:
        """Record a dropped pair so a resumed run neither retries it nor forgets it in the summary."""
        append_line(self.out_dir / DROPS_FILE, {"id": pair_id, "domain": domain, "reason": reason, "message": message})
        self.dropped_ids.add(pair_id)


def iter_jsonl(
    path: str | Path, on_corrupt: Literal["skip", "raise"] = "raise", corrupt: list[CorruptRowError] | None = None
) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_no, object)`` (1-based); a line that is not a JSON object goes to ``report_corrupt``."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
            except ValueError as exc:
                report_corrupt(CorruptRowError(path, line_no, f"bad JSON: {exc}"), on_corrupt, corrupt)
                continue
            yield line_no, obj


@dataclass(frozen=True)
class PairRecord:
    """One (reference, candidate) pair with its true critique, wherever it came from."""

    id: str
    domain: str
    reference_image: Path
    candidate_image: Path
    critique: Critique
    reference_source: str | None = None
    candidate_source: str | None = None
    source: str = ""  # "file:line", for error messages downstream
    # (width, height) read from the PNG headers at load time; feeds the token-length estimate for bucketing.
    reference_size: tuple[int, int] | None = None
    candidate_size: tuple[int, int] | None = None

    @property
    def target(self) -> str:
        """The assistant turn the reward model learns to write: the official critique JSON."""
        return self.critique.to_json()


def image_size(path: Path, key: str = "image") -> tuple[int, int]:
    """(width, height) from the image header only (cheap); a missing or non-image file raises naming ``key``."""
    if not path.is_file():
        raise FileNotFoundError(f"{key}: image {path} does not exist")
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{key}: unreadable image {path}: {exc}") from None


def _domain_of(raw: Any) -> str:
    name = str(raw).strip().lower()
    if name not in DOMAINS:
        raise SchemaError(f"category/domain: {raw!r} is not one of {DOMAINS}")
    return name


def parse_pair_row(row: dict[str, Any], base_dir: Path, where: str, check_images: bool = True) -> PairRecord:
    """Turn a manifest row (ours or VC-RewardBench's) into a ``PairRecord``; raise ``ValueError`` naming the problem."""

    sizes: dict[str, tuple[int, int] | None] = {}

    def image(key: str) -> Path:
        value = row.get(key)
        if not isinstance(value, str) or not value:
            raise SchemaError(f"{key}: missing or not a path")
        path = Path(value)
        if not path.is_absolute():
            # The manifest's folder first (our shards); the working directory is the official file's convention.
            path = base_dir / path if (base_dir / path).exists() or not path.exists() else path.resolve()
        sizes[key] = image_size(path, key) if check_images else None
        return path

    if "human_errors" in row or "gt_img_path" in row:
        domain = _domain_of(row.get("category", row.get("domain")))
        errors = row.get("human_errors")
        if not isinstance(errors, list):
            raise SchemaError(f"human_errors: expected a list, got {type(errors).__name__}")
        critique = Critique.from_official({"errors": errors}, domain)
        reference, candidate = image("gt_img_path"), image("pred_img_path")
        return PairRecord(
            id=str(row.get("id", where)),
            domain=domain,
            reference_image=reference,
            candidate_image=candidate,
            critique=critique,
            source=where,
            reference_size=sizes["gt_img_path"],
            candidate_size=sizes["pred_img_path"],
        )
    domain = _domain_of(row.get("domain"))
    raw_critique = row.get("critique")
    if isinstance(raw_critique, str):
        raw_critique = json.loads(raw_critique)
    if raw_critique is None:
        raise SchemaError("critique: missing")
    critique = Critique.from_official(raw_critique, domain)
    reference, candidate = image("reference_image"), image("candidate_image")
    return PairRecord(
        id=str(row.get("id", where)),
        domain=domain,
        reference_image=reference,
        candidate_image=candidate,
        critique=critique,
        reference_source=row.get("reference_source"),
        candidate_source=row.get("candidate_source"),
        source=where,
        reference_size=sizes["reference_image"],
        candidate_size=sizes["candidate_image"],
    )


def load_pairs(
    path: str | Path, on_corrupt: Literal["skip", "raise"] = "raise", check_images: bool = True
) -> tuple[list[PairRecord], list[CorruptRowError]]:
    """Read every usable pair of a manifest; corrupt rows raise, or are warned about, skipped and returned."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} does not exist")
    pairs: list[PairRecord] = []
    corrupt: list[CorruptRowError] = []
    for line_no, row in iter_jsonl(path, on_corrupt, corrupt):
        try:
            pairs.append(parse_pair_row(row, path.parent, f"{path}:{line_no}", check_images))
        except (ValueError, FileNotFoundError) as exc:
            report_corrupt(CorruptRowError(path, line_no, str(exc)), on_corrupt, corrupt)
    return pairs, corrupt
