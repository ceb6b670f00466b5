"""VisionToCodeDataModule: one prompt per distinct reference image, left-padded inputs the tiny model generates
from, ground-truth code carried along, JSONL prompts with relative paths, corrupt rows by file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from src.data.prompts import POLICY_INSTRUCTIONS, build_policy_messages, fenced_answer
from src.data.vision_to_code_datamodule import VisionToCodeDataModule


def make_dm(processor: Any, **kwargs: Any) -> VisionToCodeDataModule:
    kwargs = {"batch_size": 4, "num_workers": 0, "seed": 1, **kwargs}
    dm = VisionToCodeDataModule(**kwargs)
    dm.setup("fit")
    dm.connect(processor)
    return dm


def test_prompts_from_shards_generate_on_tiny_qwen3_vl(pair_shards, tiny_processor, tiny_vlm) -> None:
    dm = make_dm(tiny_processor, data_dir=str(pair_shards))
    references = {
        json.loads(line)["reference_image"] for line in (pair_shards / "train.jsonl").read_text().splitlines()
    }
    assert len(dm.train_prompts) == len(references)  # one prompt per distinct reference image
    batch = next(iter(dm.train_dataloader()))
    inputs = batch["model_inputs"]
    assert inputs["attention_mask"][:, -1].all(), "prompts must be left-padded for generate"
    assert inputs["image_grid_thw"].shape[0] == len(batch["records"])
    for record in batch["records"]:
        assert record["reference_code"].startswith("# reference")
        assert Path(record["image_path"]).is_file()
        assert record["messages"][0]["content"][-1]["text"] == POLICY_INSTRUCTIONS[record["domain"]]
    with torch.no_grad():
        out = tiny_vlm.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape == (len(batch["records"]), inputs["input_ids"].shape[1] + 3)


def test_domain_filter_and_resume(pair_shards, tiny_processor) -> None:
    dm = make_dm(tiny_processor, data_dir=str(pair_shards), domains=["svg", "table"], batch_size=2)
    assert {p.domain for p in dm.train_prompts} == {"svg", "table"}
    full = [r["id"] for b in dm.train_dataloader() for r in b["records"]]
    it = iter(dm.train_dataloader())
    seen = [r["id"] for r in next(it)["records"]]
    resumed = make_dm(tiny_processor, data_dir=str(pair_shards), domains=["svg", "table"], batch_size=2)
    resumed.load_state_dict(dm.state_dict())
    rest = [r["id"] for b in resumed.train_dataloader() for r in b["records"]]
    assert seen + rest == full


def test_jsonl_prompts_with_relative_paths_and_corrupt_rows(pair_shards, tiny_processor, tmp_path) -> None:
    bench = [json.loads(line) for line in (pair_shards / "bench.jsonl").read_text().splitlines()]
    rows = [
        {"image": str(pair_shards / bench[0]["gt_img_path"]), "domain": "chart", "code": "import matplotlib"},
        {"image": "missing.png", "domain": "svg"},
        {"image": str(pair_shards / bench[1]["gt_img_path"]), "domain": "spreadsheet"},
    ]
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.warns(UserWarning) as caught:
        dm = make_dm(tiny_processor, data_dir=None, train_jsonl=[str(path)], val_split=None)
    assert [(c.line_no, "does not exist" in c.reason) for c in dm.corrupt_rows] == [(2, True), (3, False)]
    assert "spreadsheet" in dm.corrupt_rows[1].reason
    assert any(f"{path}:2" in str(w.message) for w in caught)
    (prompt,) = dm.train_prompts
    assert prompt.reference_code == "import matplotlib"
    with pytest.raises(ValueError, match=rf"{path}:2: image: image .*missing.png does not exist"):
        make_dm(tiny_processor, data_dir=None, train_jsonl=[str(path)], on_corrupt="raise")


def test_policy_messages_reject_unknown_domain() -> None:
    with pytest.raises(ValueError, match="domain: 'latex'"):
        build_policy_messages("latex", "image.png")


def test_answers_mode_supervises_the_fenced_reference_code_only(pair_shards, tiny_processor) -> None:
    dm = make_dm(tiny_processor, data_dir=str(pair_shards), answers=True, batch_size=3)
    codes = {p.id: p.reference_code for p in dm.train_prompts}
    batch = next(iter(dm.train_dataloader()))
    labels, ids = batch["labels"], batch["model_inputs"]["input_ids"]
    assert labels.shape == ids.shape and batch["ids"]
    for row, prompt_id, domain in zip(range(labels.shape[0]), batch["ids"], batch["domains"], strict=True):
        supervised = labels[row][labels[row] != -100]
        text = tiny_processor.tokenizer.decode(supervised)
        assert text.startswith(fenced_answer(domain, codes[prompt_id]))  # the code, then the end-of-turn token
        assert text.endswith("<|im_end|>")
        # the prompt (image and instruction) is never a target
        first = int((labels[row] != -100).nonzero()[0])
        assert (ids[row, first:][: supervised.numel()] == supervised).all()
    assert set(batch["skipped"]) == {"corrupt", "answer_too_long", "no_reference_code"}


def test_answers_mode_counts_what_it_leaves_out(pair_shards, tiny_processor, tmp_path) -> None:
    bench = [json.loads(line) for line in (pair_shards / "bench.jsonl").read_text().splitlines()]
    rows = [
        {"image": str(pair_shards / bench[0]["gt_img_path"]), "domain": "svg"},  # no code: nothing to supervise
        {"image": str(pair_shards / bench[1]["gt_img_path"]), "domain": "svg", "code": "<svg/>" * 400},  # too long
    ]
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dm = make_dm(tiny_processor, data_dir=None, train_jsonl=[str(path)], answers=True, max_length=256, batch_size=2)
    with pytest.warns(UserWarning, match="raise max_length"):
        batch = next(iter(dm.train_dataloader()))
    assert batch["ids"] == []
    assert batch["skipped"] == {"corrupt": 0, "answer_too_long": 1, "no_reference_code": 1}
