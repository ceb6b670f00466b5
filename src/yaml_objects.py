"""Objects described by a ``class_path``/``init_args`` YAML file, built by jsonargparse and checked against a type.

The command-line tools (``bench_judge``, ``eval_policy``, ``refine``, ``probe_rewards``) take judges, engines,
policies and rewards as such files — the same form as the blocks inside the LightningCLI configs, so a block moves
from a config to a tool unchanged. A file that does not build ends as ``ConfigError`` naming the file and the cause.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ArgumentParser


class ConfigError(ValueError):
    """A YAML that does not instantiate, or tool options that do not fit together; names the file or option."""


def instantiate(config: Path, kind: Any, what: str) -> Any:
    """Build the object ``config`` describes, checked by jsonargparse against ``kind`` (a class or protocol)."""
    try:
        raw = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{what} config {config}: {exc}") from None
    if not isinstance(raw, dict) or "class_path" not in raw:
        raise ConfigError(f"{what} config {config}: expected a mapping with class_path (and init_args)")
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument(f"--{what}", type=kind)
    try:
        return getattr(parser.instantiate(parser.parse_object({what: raw})), what)
    except (argparse.ArgumentError, ValueError, TypeError, ImportError, AttributeError) as exc:
        raise ConfigError(f"{what} config {config}: {exc}") from None
