"""Shard I/O: deterministic splits, content-addressed images, kill-safe appends, corrupt rows with file and line."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from src.data.schema import Critique
from src.data.shards import (
    CorruptRowError,
    ShardWriter,
    image_relpath,
    iter_jsonl,
    load_pairs,
    repair_torn_tail,
    split_of,
)


def test_split_is_a_deterministic_90_5_5_hash_split() -> None:
    ids = [f"chart-s0-{i:07d}" for i in range(20000)]
    splits = [split_of(i) for i in ids]
    assert splits == [split_of(i) for i in ids]
    shares = Counter(splits)
    assert abs(shares["train"] / len(ids) - 0.90) < 0.01
    assert abs(shares["val"] / len(ids) - 0.05) < 0.01
    assert abs(shares["bench"] / len(ids) - 0.05) < 0.01


def test_images_are_stored_once_under_their_sha256(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path)
    png = b"\x89PNG fake bytes"
    rel = writer.put_image(png)
    assert rel == image_relpath(png)
    assert rel.startswith(f"images/{rel.split('/')[2][:2]}/") and rel.endswith(".png")
    assert writer.put_image(png) == rel
    assert (tmp_path / rel).read_bytes() == png
    assert len(list((tmp_path / "images").rglob("*.png"))) == 1


def test_torn_last_line_is_cut_and_its_id_not_counted_done(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path)
    writer.add_row("train", {"id": "a"})
    writer.add_drop("b", "chart", "perturbation_invisible")
    with open(tmp_path / "train.jsonl", "a") as f:
        f.write('{"id": "c", "dom')  # a kill in the middle of a write
    with pytest.warns(UserWarning, match="torn last line"):
        reopened = ShardWriter(tmp_path)
    assert reopened.kept_ids == {"a"} and reopened.dropped_ids == {"b"}
    assert reopened.is_done("a") and reopened.is_done("b") and not reopened.is_done("c")
    assert (tmp_path / "train.jsonl").read_text() == '{"id": "a"}\n'
    assert repair_torn_tail(tmp_path / "train.jsonl") is False


def test_reads_our_rows_and_official_rows_with_relative_paths(pair_shards: Path) -> None:
    train, corrupt = load_pairs(pair_shards / "train.jsonl")
    bench, _ = load_pairs(pair_shards / "bench.jsonl")
    assert not corrupt and len(train) == 18 and len(bench) == 3
    first = train[0]
    assert first.reference_image.is_file() and first.reference_image.is_relative_to(pair_shards)
    assert first.reference_size is not None and first.reference_size[0] >= 96
    assert json.loads(first.target) == first.critique.to_official()
    row = json.loads((pair_shards / "bench.jsonl").read_text().splitlines()[0])
    assert set(row) >= {"gt_img_path", "pred_img_path", "category", "human_errors"}
    same_pair = next(p for p in train if p.id == row["id"].removesuffix("-bench"))
    assert bench[0].critique == same_pair.critique
    for err in row["human_errors"]:
        assert err["type"] == err["category"] and err["type"].endswith("_error")


def _corrupt_manifest(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    lines = (dst / "train.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    rows[1]["reference_image"] = "images/00/missing.png"  # line 2: missing image
    lines[1] = json.dumps(rows[1])
    lines[3] = lines[3][:40]  # line 4: bad JSON
    rows[5]["critique"]["errors"] = [{"category": "colour_error", "severity": 2}]  # line 6: schema error
    lines[5] = json.dumps(rows[5])
    garbage = dst / "images" / "zz" / "garbage.png"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a png at all")
    rows[7]["candidate_image"] = "images/zz/garbage.png"  # line 8: unreadable image
    lines[7] = json.dumps(rows[7])
    (dst / "train.jsonl").write_text("\n".join(lines) + "\n")
    return dst / "train.jsonl"


def test_corrupt_rows_are_reported_with_file_and_line(pair_shards: Path, tmp_path: Path) -> None:
    manifest = _corrupt_manifest(pair_shards, tmp_path / "shards")
    with pytest.warns(UserWarning) as caught:
        pairs, corrupt = load_pairs(manifest, on_corrupt="skip")
    assert len(pairs) == 18 - 4
    assert [(c.path, c.line_no) for c in corrupt] == [(manifest, 2), (manifest, 4), (manifest, 6), (manifest, 8)]
    assert "does not exist" in corrupt[0].reason
    assert "bad JSON" in corrupt[1].reason
    assert "colour_error" in corrupt[2].reason
    assert "unreadable image" in corrupt[3].reason
    assert sum(f"{manifest}:" in str(w.message) for w in caught) == 4
    with pytest.raises(CorruptRowError, match=rf"{manifest}:2: reference_image: image .* does not exist"):
        load_pairs(manifest, on_corrupt="raise")


def test_iter_jsonl_names_the_line_of_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\n')
    with pytest.raises(CorruptRowError, match=r"rows.jsonl:3: bad JSON: expected a JSON object"):
        list(iter_jsonl(path))
    with pytest.warns(UserWarning, match="rows.jsonl:3"):
        assert [n for n, _ in iter_jsonl(path, on_corrupt="skip")] == [1]


def test_official_rows_accept_capitalised_category(tmp_path: Path, pair_shards: Path) -> None:
    row = json.loads((pair_shards / "bench.jsonl").read_text().splitlines()[0])
    row["category"] = "Chart"
    row["gt_img_path"] = str(pair_shards / row["gt_img_path"])  # absolute path stays as is
    row["pred_img_path"] = str(pair_shards / row["pred_img_path"])
    (tmp_path / "official.jsonl").write_text(json.dumps(row) + "\n")
    (pair,), _ = load_pairs(tmp_path / "official.jsonl")
    assert pair.domain == "chart" and isinstance(pair.critique, Critique)


# The official evaluator's per-domain error names (evaluation/evaluation.py keeps a reference error only by `type`).
OFFICIAL_TYPES = {
    "chart": {"structure_error", "data_error", "text_error", "style_error"},
    "table": {"layout_error", "text_error", "numeric_error"},
    "svg": {"structure_error", "shape_error", "style_error", "text_symbol_error"},
}


def test_prediction_file_is_what_the_official_evaluator_reads(
    pair_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON list of bench rows with `pred_json`; every reference error kept by its `type`, images from the cwd."""
    from src.data.shards import prediction_row, write_predictions

    monkeypatch.chdir(pair_shards.parent)
    pairs, _ = load_pairs(pair_shards / "bench.jsonl")
    assert {p.domain for p in pairs} == {"chart", "table", "svg"}
    rows = [prediction_row(p, p.critique if i % 2 == 0 else None, "raw answer") for i, p in enumerate(pairs)]
    path = write_predictions(tmp_path / "results" / "ours.json", rows)
    items = json.loads(path.read_text())
    assert isinstance(items, list) and len(items) == len(pairs)
    for item, pair in zip(items, pairs, strict=True):
        allowed = OFFICIAL_TYPES[item["category"]]
        kept_reference = [e for e in item["human_errors"] if e.get("type") in allowed]
        assert len(kept_reference) == len(pair.critique.errors)  # none silently filtered away
        predicted = (item["pred_json"] or {}).get("errors", []) or []
        assert all((e.get("type") or e.get("category")) in allowed for e in predicted)
        for key in ("gt_img_path", "pred_img_path"):
            assert not Path(item[key]).is_absolute() and Path(item[key]).is_file()  # relative to the working dir
    assert all(item["pred_json"] == {} for item in items[1::2])  # unparseable: no predicted errors
    for item, pair in zip(items[::2], pairs[::2], strict=True):
        assert Critique.from_official(item["pred_json"], item["category"]) == pair.critique


def test_official_rows_with_paths_relative_to_the_working_directory(
    pair_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VC-RewardBench writes image paths relative to where its scripts run, not to the JSONL's folder."""
    monkeypatch.chdir(pair_shards.parent)
    rows = [json.loads(line) for line in (pair_shards / "bench.jsonl").read_text().splitlines()]
    for row in rows:
        row["gt_img_path"] = str(Path(pair_shards.name) / row["gt_img_path"])
        row["pred_img_path"] = str(Path(pair_shards.name) / row["pred_img_path"])
    official = tmp_path / "elsewhere" / "vc_rewardbench.jsonl"
    official.parent.mkdir()
    official.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs, corrupt = load_pairs(official)
    assert not corrupt and len(pairs) == len(rows)
    assert all(p.reference_image.is_file() and p.candidate_image.is_file() for p in pairs)
