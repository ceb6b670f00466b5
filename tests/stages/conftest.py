"""Fixtures of the stage tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthesized shard set shared by the CLI tests (the debug config's own synthesize-if-missing path)."""
    from src.data.synthesis import SynthesisConfig, synthesize

    out = tmp_path_factory.mktemp("synth")
    synthesize(out, SynthesisConfig(n_per_domain=4, seed=0, workers=2), progress=False)
    return out
