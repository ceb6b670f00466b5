"""LightningCLI entry point: ``python -m src fit --config configs/<stage>/<variant>.yaml``.

Models and DataModules are chosen by ``class_path`` in the YAML (jsonargparse), so there is no registry here: the
typed ``__init__`` signatures of the stage modules and DataModules are the config schema.

Logging: a config that leaves ``trainer.logger`` unset gets TensorBoard *and* CSV in one version folder
(``<default_root_dir>/lightning_logs/version_N``), plus W&B when ``wandb`` is installed and ``WANDB_PROJECT`` is set.
Lightning's own default is TensorBoard *or* CSV, so installing tensorboard silently removed ``metrics.csv``, which
the demo, the report and people's scripts read. A config that sets ``trainer.logger`` (or ``false``) is obeyed.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger


def default_loggers(root_dir: str) -> list[Logger]:
    """TensorBoard and CSV writing into the same ``lightning_logs/version_N``; W&B when asked for by environment."""
    tensorboard = TensorBoardLogger(save_dir=root_dir, name="lightning_logs")
    loggers: list[Logger] = [
        tensorboard,
        CSVLogger(save_dir=root_dir, name="lightning_logs", version=tensorboard.version),
    ]
    # W&B only on request: importing it alone must not make a fresh machine prompt for a login.
    if os.environ.get("WANDB_PROJECT") and importlib.util.find_spec("wandb") is not None:
        from lightning.pytorch.loggers import WandbLogger

        loggers.append(WandbLogger(project=os.environ["WANDB_PROJECT"], save_dir=root_dir))
    return loggers


class VisualERMCLI(LightningCLI):
    """LightningCLI that saves the resolved config next to the run's logs and logs to TensorBoard and CSV."""

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        if "logger" not in kwargs and trainer_config.get("logger") in (None, True):
            kwargs["logger"] = default_loggers(trainer_config.get("default_root_dir") or os.getcwd())
        return super().instantiate_trainer(**kwargs)


def main(args: list[str] | None = None, run: bool = True) -> VisualERMCLI:
    return VisualERMCLI(
        model_class=LightningModule,
        datamodule_class=LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
    )
