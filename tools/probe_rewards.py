"""Reward-hacking probes: how often each reward orders known-better above known-worse candidates.

    python tools/probe_rewards.py --references 20 --domains chart svg table --out runs/probes
    python tools/probe_rewards.py --references 20 --judge-model models/tiny-qwen3-vl --out runs/probes-tiny
    python tools/probe_rewards.py --reward dino=configs/reward/dinov2.yaml --reward erm=configs/reward/judge.yaml \
        --out runs/probes-erm

Render success, pixel MSE and SSIM are always measured; ``--reward NAME=YAML`` adds any reward a
``class_path``/``init_args`` YAML builds (the judge behind an ``OpenAIEngine``, an embedding cosine, a weighted sum);
``--judge-model PATH`` adds the Visual-ERM judge on an in-process ``HFEngine`` (our built-in critic prompt). Writes
``probes.md`` (a section per domain) and ``probes.json`` (``{domain: report}``) to ``--out`` and prints the
Markdown. Exit status 2 with a one-line reason on bad
input. See ``src/eval/probes.py`` for what each probe is.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a script from a checkout, before `pip install -e .`
    sys.path.insert(0, str(ROOT))


from src.eval.probes import run_probes  # noqa: E402
from src.render import RenderPool  # noqa: E402
from src.reward.baselines import PixelMSEReward, RenderSuccessReward, SSIMReward  # noqa: E402
from src.reward.pair import RewardFunction  # noqa: E402
from src.reward.reward import RewardConfig  # noqa: E402
from src.yaml_objects import ConfigError, instantiate  # noqa: E402


def load_reward(config: Path) -> Any:
    """The reward a ``class_path``/``init_args`` YAML describes, checked against ``RewardFunction`` by jsonargparse."""
    return instantiate(config, RewardFunction, "reward")


def build_rewards(args: argparse.Namespace) -> dict[str, RewardFunction]:
    rewards: dict[str, RewardFunction] = {
        "render": RenderSuccessReward(),
        "mse": PixelMSEReward(),
        "ssim": SSIMReward(),
    }
    if args.judge_model is not None:
        from src.engines.engine import SamplingSettings
        from src.engines.hf_engine import HFEngine
        from src.reward.critic_profile import builtin_profile
        from src.reward.judge import VisualERMJudge

        sampling = SamplingSettings(temperature=0.0, max_new_tokens=args.judge_max_new_tokens)
        rewards["judge"] = VisualERMJudge(
            HFEngine.from_pretrained(args.judge_model),
            profile=replace(builtin_profile(), sampling=sampling),
            reward=RewardConfig(normalization="fixed"),  # scores comparable across references
            retries=args.judge_retries,
        )
    for spec in args.reward:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--reward {spec!r}: expected NAME=YAML")
        if name in rewards:
            raise ConfigError(f"--reward {spec!r}: the name {name!r} is taken")
        rewards[name] = load_reward(Path(path))
    return rewards


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder for probes.md and probes.json")
    parser.add_argument("--references", type=int, default=20, help="references per domain (up to 9 candidates each)")
    parser.add_argument("--domains", nargs="+", choices=("chart", "table", "svg"), default=["chart"])
    parser.add_argument("--seed", type=int, default=0, help="draws the reference seeds and perturbations")
    parser.add_argument("--reward", action="append", default=[], metavar="NAME=YAML", help="another reward")
    parser.add_argument("--judge-model", type=Path, help="a Visual-ERM checkpoint to judge with on an HFEngine")
    parser.add_argument("--judge-max-new-tokens", type=int, default=1024, help="critique budget of --judge-model")
    parser.add_argument("--judge-retries", type=int, default=2, help="re-asks of an unparseable critique")
    parser.add_argument("--workers", type=int, default=2, help="render workers")
    parser.add_argument("--cache-dir", type=Path, help="render cache (reruns skip rendering)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.references < 1:
            raise ConfigError(f"--references: must be >= 1, got {args.references}")
        rewards = build_rewards(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with RenderPool(workers=args.workers, cache_dir=args.cache_dir) as pool:
        reports = [run_probes(rewards, pool, args.references, args.seed, domain) for domain in args.domains]
    args.out.mkdir(parents=True, exist_ok=True)
    markdown = "\n".join(report.to_markdown() for report in reports)
    (args.out / "probes.md").write_text(markdown, encoding="utf-8")
    payload = {report.domain: report.to_dict() for report in reports}
    (args.out / "probes.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
