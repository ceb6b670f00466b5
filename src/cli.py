"""LightningCLI entry point: ``python -m src fit --config configs/<stage>/<variant>.yaml``.

Models and DataModules are chosen by ``class_path`` in the YAML (jsonargparse), so there is no registry here: the
typed ``__init__`` signatures of the stage modules and DataModules are the config schema.

Logging: a config that leaves ``trainer.logger`` unset gets TensorBoard *and* CSV in one version folder
(``<default_root_dir>/lightning_logs/version_N``), plus W&B when ``wandb`` is installed and ``WANDB_PROJECT`` is set.
Lightning's own default is TensorBoard *or* CSV, so installing tensorboard silently removed ``metrics.csv``, which
the demo, the report and people's scripts read. A config that sets ``trainer.logger`` (or ``false``) is obeyed.

GRPO runs: a config may put its ``RolloutCallback`` under the top-level ``rollout:`` key instead of in
``trainer.callbacks``. A list is replaced whole by a later ``--config``, a key is merged, so only there can a small
second file (``configs/grpo/qwen3vl_8b_base.yaml`` + ``qwen3vl_8b_chart_lora.yaml``) change one setting of the
rollout. Values that must agree are written once and linked, wherever the callback sits:

- ``model.init_args.max_completion_tokens`` <- the rollout's ``sampling.max_new_tokens`` (dr_grpo normalizes by the
  budget the policy samples with);
- the rollout's ``max_side`` <- ``data.init_args.max_image_side`` (the judge compares the reference the DataModule
  downscaled with the render; the paper shows both at the same size: 1024 px charts/SVG, 768 px tables);
- an in-process ``VLLMEngine``'s ``model`` <- ``model.init_args.loader.name_or_path`` (it must sample the model being
  trained; a served policy, ``OpenAIEngine``, keeps the name its server gives it).

A link overwrites whatever a YAML or the command line writes at its target, so configs leave those keys out.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from src.engines.vllm_engine import VLLMEngine
from src.stages.grpo import GRPOModule
from src.stages.grpo_rollout import RolloutCallback


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def rollout_configs(rollout: Any = None, callbacks: Any = None) -> list[Namespace]:
    """The rollout configs of a run: the ``rollout`` key's value and the RolloutCallbacks in ``trainer.callbacks``."""
    found = [rollout] if isinstance(rollout, Namespace) else []
    for entry in callbacks if isinstance(callbacks, list) else [callbacks]:
        if isinstance(entry, Namespace) and entry.get("class_path") == class_path(RolloutCallback):
            found.append(entry)
    return found


def completion_budget(callbacks: Any, rollout: Any) -> int | None:
    """The rollout's ``sampling.max_new_tokens``; None without a rollout (a module without the argument ignores it)."""
    found = rollout_configs(rollout, callbacks)
    if not found:
        return None
    sampling = found[0].init_args.get("sampling")
    if sampling is None:
        raise ValueError(
            "the RolloutCallback's sampling is unset: give sampling.max_new_tokens, it also sets "
            "model.init_args.max_completion_tokens"
        )
    # a dataclass value parses as {class_path, init_args} under a subclass key and as its fields inside a list
    return int(sampling.get("init_args", sampling).max_new_tokens)


def engine_model(name_or_path: str, rollouts: list[Namespace]) -> str | None:
    """The trained model for an in-process ``VLLMEngine``; any other engine keeps the model it names."""
    for rollout in rollouts:
        engine = rollout.init_args.get("engine")
        if isinstance(engine, Namespace):
            return name_or_path if engine.get("class_path") == class_path(VLLMEngine) else engine.init_args.get("model")
    return None


def rollout_engine_model(name_or_path: str, rollout: Any) -> str | None:
    return engine_model(name_or_path, rollout_configs(rollout=rollout))


def listed_engine_model(name_or_path: str, callbacks: Any) -> str | None:
    return engine_model(name_or_path, rollout_configs(callbacks=callbacks))


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

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(RolloutCallback, "rollout", subclass_mode=True, required=False)
        parser.link_arguments(
            ("trainer.callbacks", "rollout"), "model.init_args.max_completion_tokens", compute_fn=completion_budget
        )
        for place, compute_fn in (("rollout", rollout_engine_model), ("trainer.callbacks", listed_engine_model)):
            parser.link_arguments("data.init_args.max_image_side", f"{place}.init_args.max_side")
            parser.link_arguments(
                ("model.init_args.loader.name_or_path", place),
                f"{place}.init_args.engine.init_args.model",
                compute_fn=compute_fn,
            )

    def before_instantiate_classes(self) -> None:
        """A GRPO run needs exactly one rollout; say so here rather than with a TypeError from a linked ``None``."""
        config = self.config.get(str(self.subcommand), self.config)
        if config.get("model", Namespace()).get("class_path") != class_path(GRPOModule):
            return
        count = len(rollout_configs(config.get("rollout"), config.get("trainer", Namespace()).get("callbacks")))
        if count != 1:
            raise ValueError(
                f"GRPOModule needs exactly one RolloutCallback, under `rollout:` or in trainer.callbacks; found {count}"
            )

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        # `rollout:` is optional: a config that lists its RolloutCallback in trainer.callbacks leaves it None
        return super()._instantiate_trainer(config, [callback for callback in callbacks if callback is not None])

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
