"""Category-level detection metric, pinned to hand-computed counts."""

from __future__ import annotations

import pytest
import torch

from src.data.schema import Critique, Discrepancy
from src.reward.critique_metrics import CritiqueDetection


def chart(*categories: str) -> Critique:
    return Critique("chart", tuple(Discrepancy(c, 2, "somewhere", "something") for c in categories))


def test_counts_matches_per_category() -> None:
    metric = CritiqueDetection()
    # pair 1: true {data, data, text}; predicted {data, style} -> tp 1 (data), fp 1 (style), fn 2 (data, text)
    # pair 2: true {structure}; unparseable prediction -> fn 1
    # pair 3: true {}; predicted {text} -> fp 1
    metric.update(
        [chart("data", "style"), None, chart("text")], [chart("data", "data", "text"), chart("structure"), chart()]
    )
    out = metric.compute()
    precision, recall = 1 / 3, 1 / 4
    torch.testing.assert_close(out["precision"], torch.tensor(precision))
    torch.testing.assert_close(out["recall"], torch.tensor(recall))
    torch.testing.assert_close(out["f1"], torch.tensor(2 * precision * recall / (precision + recall)))


def test_all_equivalent_pairs_predicted_equivalent_is_perfect() -> None:
    metric = CritiqueDetection()
    metric.update([chart(), chart()], [chart(), chart()])
    assert float(metric.compute()["f1"]) == 1.0


def test_no_hit_gives_zero_f1() -> None:
    metric = CritiqueDetection()
    metric.update([chart("style")], [chart("data")])
    assert float(metric.compute()["f1"]) == 0.0


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 predictions for 1 targets"):
        CritiqueDetection().update([chart(), chart()], [chart()])


def test_severity_pearson_matches_the_textbook_formula_and_is_nan_when_undefined() -> None:
    from scipy.stats import pearsonr

    from src.reward.critique_metrics import SeverityPearson

    x, y = [3.0, 0.0, 5.0, 2.0, 7.0], [2.0, 1.0, 6.0, 2.0, 5.0]
    metric = SeverityPearson()
    metric.update(torch.tensor(x[:2]), torch.tensor(y[:2]))
    metric.update(torch.tensor(x[2:]), torch.tensor(y[2:]))
    assert float(metric.compute()) == pytest.approx(pearsonr(x, y).statistic, abs=1e-6)
    constant = SeverityPearson()
    constant.update(torch.tensor([2.0, 2.0, 2.0]), torch.tensor([1.0, 4.0, 2.0]))
    assert torch.isnan(constant.compute())


def _scores_on_rank(rank: int, world: int, port: int, out_dir: str) -> None:
    import datetime
    import os

    import torch.distributed as dist

    from src.reward.critique_metrics import CritiqueScores

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))
    scores = CritiqueScores()
    preds, targets = _rank_share(rank)
    if preds:  # rank 1 generated nothing: the old per-rank "is Pearson defined here?" check skipped its collective
        scores.update(preds, targets)
    result = scores.compute()
    torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def _rank_share(rank: int) -> tuple[list[Critique | None], list[Critique]]:
    if rank == 0:
        return [chart("data"), None, chart("text", "text"), chart()], [
            chart("data"),
            chart("style"),
            chart("text"),
            chart(),
        ]
    return [], []


def test_scores_are_collective_safe_across_two_processes(tmp_path) -> None:
    """Two gloo ranks, one of which generated nothing: both finish, agree, and equal the single-process scores."""
    import socket
    import time

    import torch.multiprocessing as mp

    from src.reward.critique_metrics import CritiqueScores

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    context = mp.start_processes(
        _scores_on_rank, args=(2, port, str(tmp_path)), nprocs=2, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + 180
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("ranks deadlocked in compute()")
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    single = CritiqueScores()
    single.update(*_rank_share(0))
    expected = single.compute()
    assert set(ranks[0]) == set(ranks[1]) == set(expected) >= {"parse_rate", "f1", "severity_pearson"}
    for name, value in expected.items():
        torch.testing.assert_close(ranks[0][name], value)
        torch.testing.assert_close(ranks[1][name], value)
    assert float(expected["parse_rate"]) == 0.75


def test_scores_report_nothing_when_nothing_was_generated() -> None:
    from src.reward.critique_metrics import CritiqueScores

    assert CritiqueScores().compute() == {}


def test_validation_severity_pearson_correlates_per_pair_sums() -> None:
    """Sc over per-pair severity *sums* (paper Eq. 3's S); an unparseable prediction counts 0. Sums: predicted
    [1+1, 3, 0, 2+2+2], true [3, 1+1+1, 2, 3+3]; per-pair maxima ([1, 3, 0, 2] and [3, 1, 2, 3]) would give another r."""
    from scipy.stats import pearsonr

    from src.reward.critique_metrics import CritiqueScores

    def rated(*severities: int) -> Critique:
        return Critique("chart", tuple(Discrepancy("data", s, "somewhere", "something") for s in severities))

    scores = CritiqueScores()
    scores.update([rated(1, 1), rated(3), None, rated(2, 2, 2)], [rated(3), rated(1, 1, 1), rated(2), rated(3, 3)])
    expected = pearsonr([2, 3, 0, 6], [3, 3, 2, 6]).statistic
    assert abs(expected - pearsonr([1, 3, 0, 2], [3, 1, 2, 3]).statistic) > 0.3
    assert float(scores.compute()["severity_pearson"]) == pytest.approx(expected, abs=1e-6)
