"""Every YAML under configs/ parses through the real CLI, so configs cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.cli import VisualERMCLI

CONFIGS = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))


class ParseOnlyCLI(VisualERMCLI):
    """Parses and instantiates model and data, but no Trainer: GPU/FSDP configs must parse on a CPU-only machine."""

    def instantiate_trainer(self, **kwargs):  # noqa: D102
        return None


def test_there_are_configs() -> None:
    assert any(p.parent.name == "reward_sft" and p.name == "debug.yaml" for p in CONFIGS)


@pytest.mark.parametrize("config", CONFIGS, ids=[str(p.relative_to(p.parents[1])) for p in CONFIGS])
def test_config_parses_through_cli(config: Path) -> None:
    first_line = config.read_text().splitlines()[0]
    assert first_line.startswith("# python -m src "), f"{config} must start with the command that runs it"
    cli = ParseOnlyCLI(args=["--config", str(config)], run=False)
    assert cli.model.__class__.__name__ == "RewardModelSFT"
    assert cli.model.loader.name_or_path
    assert cli.datamodule is not None
