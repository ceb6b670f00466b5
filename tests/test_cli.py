"""The CLI's logger default: TensorBoard and CSV side by side in one version folder, unless the config says otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from src.cli import default_loggers, main

DEBUG = Path(__file__).parents[1] / "configs" / "reward_sft" / "debug.yaml"


def test_default_loggers_share_one_version_folder(tmp_path: Path) -> None:
    (tmp_path / "lightning_logs" / "version_0").mkdir(parents=True)  # an earlier run
    tensorboard, csv = default_loggers(str(tmp_path))
    assert isinstance(tensorboard, TensorBoardLogger) and isinstance(csv, CSVLogger)
    assert tensorboard.log_dir == csv.log_dir == str(tmp_path / "lightning_logs" / "version_1")


def test_trainer_logs_to_tensorboard_and_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cli = main(["--config", str(DEBUG), "--trainer.default_root_dir", str(tmp_path / "run")], run=False)
    kinds = [type(logger) for logger in cli.trainer.loggers]
    assert kinds == [TensorBoardLogger, CSVLogger]
    assert cli.trainer.log_dir == str(tmp_path / "run" / "lightning_logs" / "version_0")


def test_a_config_that_names_its_logger_is_obeyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cli = main(["--config", str(DEBUG), "--trainer.logger", "false"], run=False)
    assert cli.trainer.loggers == []
