"""LightningCLI entry point: ``python -m src fit --config configs/<stage>/<variant>.yaml``.

Models and DataModules are chosen by ``class_path`` in the YAML (jsonargparse), so there is no registry here: the
typed ``__init__`` signatures of the stage modules and DataModules are the config schema.
"""

from __future__ import annotations

from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI


class VisualERMCLI(LightningCLI):
    """LightningCLI that always saves the resolved config next to the run's logs."""


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
