"""The HTML report: built from an evaluation folder, a training run folder and probes.json as the tools write them;
every linked image exists, untrusted text is escaped, bad inputs are refused with a reason; in headless Chromium it
loads without console errors, every image loads and the page is not blank."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from src.eval.metrics.policy import PolicyAnswer, SampleScore, write_results
from src.eval.report import ReportError, difference_map, write_report

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def drawn(colour: str, size: tuple[int, int] = (160, 120), shift: int = 0) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle([20 + shift, 20, 90 + shift, 100], fill=colour)
    return image


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def evaluation_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "eval"
    answers = [
        PolicyAnswer("chart-0", "chart", drawn("#4C72B0"), "plt.bar(...)", "ref"),
        PolicyAnswer("svg-0", "svg", drawn("red"), HOSTILE),
    ]
    scores = [
        SampleScore("chart-0", "chart", True, None, "", {"low_level": 0.75, "text_f1": 0.5}, judge_reward=1.4,
                    critique=[{"category": "data", "severity": 3, "location": "bar 2", "description": HOSTILE},
                              {"category": "style", "severity": 1, "location": "title", "description": "font"}],
                    candidate_png=png(drawn("#4C72B0", shift=15)), answer="plt.bar(...)"),
        SampleScore("svg-0", "svg", False, "syntax", "not well-formed", {"ssim": 0.0, "mse": 1.0}, judge_reward=0.0,
                    answer=HOSTILE),
    ]  # fmt: skip
    write_results(folder, answers, scores, {"policy": "test"})
    return folder


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    logs = folder / "csv" / "version_0"
    logs.mkdir(parents=True)
    rows = ["step,train/loss,rollout/reward_mean,rollout/seconds_reward,epoch"]
    rows += [f"{s},{1 / (s + 1):.3f},{0.2 + 0.1 * s:.3f},0.5,0" for s in range(6)]
    (logs / "metrics.csv").write_text("\n".join(rows) + "\n")
    dump = folder / "csv" / "version_0" / "rollout_samples" / "step000003-rank0"
    dump.mkdir(parents=True)
    drawn("green").save(dump / "g0-reference.png")
    drawn("green", shift=10).save(dump / "g0-0.png")
    critique = {"errors": [{"category": "structure", "severity": 2, "location": "x axis", "description": "range"}]}
    samples = [
        {"step": 3, "prompt_id": "p0", "domain": "chart", "rollout": 0, "completion": "code", "reward": 1.2,
         "rendered": True, "render_error": None, "critique": json.dumps(critique)},
        {"step": 3, "prompt_id": "p0", "domain": "chart", "rollout": 1, "completion": "oops", "reward": 0.0,
         "rendered": False, "render_error": "syntax", "critique": None},
    ]  # fmt: skip
    (dump / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return folder


@pytest.fixture
def probes_json(tmp_path: Path) -> Path:
    outcomes = [
        {"reward": reward, "probe": probe, "expected": "a > b", "pairs": 4, "ordered": 3, "ties": 0, "rate": rate}
        for reward, probe, rate in [("ssim", "exact", 1.0), ("ssim", "severe", 0.25), ("judge", "exact", 0.75),
                                    ("judge", "severe", None)]
    ]  # fmt: skip
    path = tmp_path / "probes.json"
    path.write_text(json.dumps({"chart": {"domain": "chart", "outcomes": outcomes}}))
    return path


def build(tmp_path: Path, evaluation_dir: Path, run_dir: Path, probes_json: Path) -> Path:
    return write_report(tmp_path / "site" / "report.html", evaluation_dir, run_dir, probes_json)


def test_difference_map() -> None:
    same = difference_map(drawn("red"), drawn("red"))
    assert same.shape == (120, 160) and same.max() == 0.0
    black, white = Image.new("RGB", (40, 20), "black"), Image.new("RGB", (80, 80), "white")
    assert np.allclose(difference_map(black, white), 1.0)  # a candidate of another size is compared at the reference's
    moved = difference_map(drawn("red"), drawn("red", shift=15))
    assert moved[60, 30] > 0.5 and moved[60, 60] == 0.0  # differs where the shape moved, not where both drew it


def test_report_links_existing_images_and_escapes_untrusted_text(tmp_path, evaluation_dir, run_dir, probes_json):
    report = build(tmp_path, evaluation_dir, run_dir, probes_json)
    page = report.read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert all((report.parent / src).is_file() for src in sources), sources
    assets = {Path(s).name for s in sources}
    assert {"metrics_by_domain.png", "severity_histogram.png", "reward_over_steps.png", "probes-01.png"} <= assets
    assert sum(name.startswith("diff-") for name in assets) == 2  # one heatmap per rendered candidate
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "did not render: syntax: not well-formed" in page and "did not render: syntax" in page
    assert "bar 2" in page and "severe" in page and "x axis" in page  # critiques from both sources
    assert "rollout/reward_mean" in page and "train/loss" not in page and "seconds_reward" not in page


def test_bad_inputs_are_refused_with_a_reason(tmp_path, evaluation_dir) -> None:
    with pytest.raises(ReportError, match="nothing to report"):
        write_report(tmp_path / "r.html")
    with pytest.raises(ReportError, match="samples.jsonl"):
        (evaluation_dir / "samples.jsonl").unlink()
        write_report(tmp_path / "r.html", evaluation_dir=evaluation_dir)
    with pytest.raises(ReportError, match="not a training run"):
        (tmp_path / "empty").mkdir()
        write_report(tmp_path / "r.html", run_dir=tmp_path / "empty")
    (tmp_path / "p.json").write_text('{"chart": {"no": "outcomes"}}')
    with pytest.raises(ReportError, match="outcomes"):
        write_report(tmp_path / "r.html", probes_json=tmp_path / "p.json")


@pytest.mark.browser
def test_report_in_headless_chromium(tmp_path, evaluation_dir, run_dir, probes_json) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no chromium on PATH")
    report = build(tmp_path, evaluation_dir, run_dir, probes_json)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=flags)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto(report.as_uri(), wait_until="load")
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.src, e.complete && e.naturalWidth > 0])")
            shot = page.screenshot(full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert len(images) >= 9 and all(ok for _, ok in images), [src for src, ok in images if not ok]
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(np.int32)
    colours = np.unique((pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2])  # 1-D: fast on a tall page
    assert pixels.std() > 10 and len(colours) > 50  # drawn, not a blank page


def test_report_tool_writes_the_page_and_exits_2_on_bad_input(tmp_path, evaluation_dir, run_dir, capsys) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("report_tool", Path(__file__).parents[2] / "tools" / "report.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "site" / "index.html"
    assert tool.main(["--eval", str(evaluation_dir), "--run", str(run_dir), "--out", str(out)]) == 0
    assert out.is_file() and str(out.resolve()) in capsys.readouterr().out
    assert tool.main(["--run", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
