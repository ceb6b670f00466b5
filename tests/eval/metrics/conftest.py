"""One render pool for the policy-metric tests (charts run traced in its sandbox; tables need Chromium)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from src.render import RenderPool


@pytest.fixture(scope="session")
def metrics_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RenderPool]:
    scratch = tmp_path_factory.mktemp("metrics-scratch")
    with RenderPool(workers=2, timeout_s=10, memory_mb=1024, scratch_dir=str(scratch)) as pool:
        yield pool
