"""The miniature reproduction's report: the result first (critic against baselines, policies before and after RL),
then the learning curves as plots, from ``summary.json`` and the stages' CSV logs."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Which curves share a plot: (file stem, title, series-name filter, y label). Losses are drawn on a log scale: the
# first steps (the format) fall from ~7 to ~0.1 and would hide the part that shows the model starting to see.
PLOTS: tuple[tuple[str, str, str, str], ...] = (
    ("base_loss", "Base: image -> code SFT loss", "base ", "loss per code token (log)"),
    ("critic_loss", "Critic SFT loss", "critic train/loss|critic val/loss", "loss per critique token (log)"),
    ("critic_f1", "Critic on held-out references (val split) against steps", "critic val/f1|critic val/parse_rate",
     "F1 / parse rate"),
    ("grpo_score", "Held-out policy score against GRPO steps", "held-out score",
     "render rate x SSIM (seeds' mean; step 0: SFT)"),
    ("grpo_reward", "GRPO: mean rollout reward against steps", "rollout/reward_mean", "reward (0..2)"),
    ("grpo_render", "GRPO: rollouts that render against steps", "rollout/render_ok", "render rate"),
)  # fmt: skip


def plot(out: Path, title: str, series: dict[str, list[tuple[float, float]]], ylabel: str) -> bool:
    if not any(series.values()):
        return False
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, points in sorted(series.items()):
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o" if len(points) < 20 else None, markersize=3, label=name)
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if "(log)" in ylabel:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


def _fmt(value: Any) -> str:
    if value is None:  # a baseline has no parse rate or severity to report
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _loss(value: float | None) -> str:
    """A grounding loss, or why there is none (no held-out pair the critic's answer could be scored on)."""
    return f"{value:.4f}" if value is not None else "not measured (no held-out pair with both sources)"


def verdicts(summary: dict[str, Any]) -> list[str]:
    """The issue's targets, each with the measured figure and whether it was met."""
    critic = summary["critic"]
    f1 = critic["heldout"]["f1_hard"] or 0.0
    best_name, best = max(((n, v["f1_hard"] or 0.0) for n, v in critic["baselines"].items()), key=lambda x: x[1])
    pearson = critic["heldout"]["severity_pearson"]
    # Undefined when every predicted severity sum is the same (a critic that names no discrepancy at all).
    pearson_text = f"{pearson:.3f}" if pearson is not None else "undefined (every predicted sum equal)"
    lines = [
        f"Critic F1h on held-out pairs {f1:.3f} against the best baseline ({best_name}) {best:.3f}: "
        f"{'met' if f1 >= best + 0.15 else 'not met'} (target: at least 0.15 above).",
        f"Critic parse rate {critic['heldout']['parse_rate'] or 0.0:.2f} (target 0.95); severity Pearson "
        f"{pearson_text} (target > 0.3); loss gap with the reference twice "
        f"{_loss(critic['grounding']['gap'])} per token (positive: it looks at the candidate).",
    ]
    false_alarms = critic["heldout"].get("false_alarm_rate")
    if false_alarms is not None:
        lines.append(
            f"On the held-out pairs with no true discrepancy the critic names one in {false_alarms:.2f} of them "
            f"(pixel_majority: {_fmt(critic['baselines']['pixel_majority'].get('false_alarm_rate'))}); each such pair "
            "pulls the severity Pearson down."
        )
    answers = critic.get("policy_answers")
    if answers is not None:
        held_answers, pixel = answers["heldout"], answers["baselines"]["pixel_majority"]
        lines.append(
            f"Critic on the base policy's own answers ({held_answers['pairs']} pairs, what GRPO asks it about): "
            f"F1h {_fmt(held_answers['f1_hard'])}, severity Pearson {_fmt(held_answers['severity_pearson'])} "
            f"(pixel_majority: {_fmt(pixel['f1_hard'])}, {_fmt(pixel['severity_pearson'])}); a critic that names "
            "nothing here gives every rollout of a group one reward."
        )
    policy = summary["policy"]
    if "sft" in policy and "grpo_critic" in policy:
        sft, rl = policy["sft"]["svg"], policy["grpo_critic"]["svg"]
        gain, spread = rl["score"] - sft["score"], max(rl["seeds"]) - min(rl["seeds"])
        lines.append(
            f"GRPO with the critic against SFT alone: {gain:+.4f} SSIM score, spread between seeds {spread:.4f}: "
            f"{'met' if gain > spread else 'not met'} (target: a gain larger than the spread). Where it comes from: "
            f"render rate {sft['render_rate']:.3f} → {rl['render_rate']:.3f}, SSIM of the rendered answers "
            f"{_rendered_ssim(sft):.4f} → {_rendered_ssim(rl):.4f}."
        )
    if "grpo_baseline" in policy and "grpo_critic" in policy:
        lines.append(
            f"GRPO with the pixel reward: {policy['grpo_baseline']['svg']['score']:.4f}; with the critic: "
            f"{policy['grpo_critic']['svg']['score']:.4f}."
        )
    critic_runs = [v for k, v in summary.get("reward_agreement", {}).items() if k.startswith("grpo_critic")]
    if critic_runs:
        own = [r["reward"]["agreement"] for r in critic_runs if r["reward"]["agreement"] is not None]
        pixel = [r["pixel"]["agreement"] for r in critic_runs if r["pixel"]["agreement"] is not None]
        if own and pixel:
            lines.append(
                f"On GRPO's own rollouts the critic's reward ordered two of a group as their true errors do "
                f"{sum(own) / len(own):.3f} of the time, pixel MSE on the same rollouts {sum(pixel) / len(pixel):.3f} "
                "(0.5 is a coin): what RL could learn from each."
            )
    if "grpo_exact" in policy and "sft" in policy:
        exact = policy["grpo_exact"]["svg"]
        lines.append(
            f"GRPO with the exact critique (a perfect critic, the upper bound): {exact['score']:.4f} "
            f"({exact['score'] - policy['sft']['svg']['score']:+.4f} over SFT, spread "
            f"{max(exact['seeds']) - min(exact['seeds']):.4f})."
        )
    return lines


def _rendered_ssim(entry: dict[str, Any]) -> float:
    """SSIM over the answers that rendered: the score without its render-rate factor (the render bonus of every
    reward can raise the score alone)."""
    return entry["score"] / entry["render_rate"] if entry["render_rate"] else 0.0


def _alarms(rate: float | None, held: dict[str, Any]) -> str:
    """A false-alarm rate with the number of pairs it is a share of: a rate over one or two pairs says little."""
    if rate is None:
        return "—"
    clean = held.get("clean_pairs")
    return f"{rate:.3f}" if clean is None else f"{rate:.3f} of {clean}"


def critic_table(scores: dict[str, Any]) -> str:
    """The critic's and the baselines' scores on one held-out set."""
    held = scores["heldout"]
    rows = [["Visual-ERM critic (trained here)", held["pairs"], held["parse_rate"], held["f1_hard"], held["f1_soft"],
             held["severity_pearson"], _alarms(held.get("false_alarm_rate"), held)]]  # fmt: skip
    rows += [[f"baseline: {name}", held["pairs"], None, v["f1_hard"], v["f1_soft"], v.get("severity_pearson"),
              _alarms(v.get("false_alarm_rate"), held)] for name, v in scores["baselines"].items()]  # fmt: skip
    header = ["critic", "pairs", "parse rate", "F1 hard", "F1 soft", "severity Pearson", "false alarms (no true error)"]
    return _table(header, rows)


def agreement_section(agreement: dict[str, Any]) -> list[str]:
    """How each GRPO run's reward, and the pixel reward on the same rollouts, ordered its groups."""
    if not agreement:
        return []
    rows = []
    for run, entry in agreement.items():
        own, pixel = entry["reward"], entry["pixel"]
        readings = entry.get("readings", {}).get("agreement")
        rows.append([run, own["groups"], own["mixed_groups"], own["tied_groups"], own["agreement"],
                     pixel["tied_groups"], pixel["agreement"], readings])  # fmt: skip
    return [
        "<h2>What each reward told GRPO</h2>",
        "<p>Every rollout GRPO scored, labelled exactly against its reference. Over two rollouts of one group whose "
        "true error differs, a reward agrees when the better one gets more (a tie counts half: 0.5 is a coin). "
        "Groups whose rollouts all get one reward teach nothing. A critic that writes both images' code first is "
        "also scored by the exact diff of its two readings: good there and poor on its own reward means it reads "
        "well and compares badly.</p>",
        _table(
            [
                "GRPO run",
                "groups",
                "groups of mixed quality",
                "tied groups (its reward)",
                "agreement (its reward)",
                "tied groups (pixel)",
                "agreement (pixel, same rollouts)",
                "agreement (diff of its readings)",
            ],
            rows,
        ),  # fmt: skip
    ]


def models_line(sizes: dict[str, str]) -> str:
    """Which models the run trained, from ``summary.json``'s ``model_sizes`` (absent in older runs: one size)."""
    policy, critic = sizes.get("policy", "small"), sizes.get("critic", "small")
    if critic == policy:
        return (
            f"One {policy} random Qwen3-VL, trained on a CPU: image → SVG code SFT (the base and SFT policy), a "
            "critic from that base, then GRPO from the base with the critic's reward and with a pixel reward."
        )
    return (
        f"Two random Qwen3-VLs, trained on a CPU by the same image → SVG code SFT: the {policy} one is the base "
        f"and SFT policy, the {critic} one the base of the critic; then GRPO from the policy's base with the critic's "
        "reward and with a pixel reward."
    )


def verdict_list(summary: dict[str, Any]) -> str:
    """The verdicts as an HTML list: this run's at the top, a compared run's in its section."""
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in verdicts(summary)) + "</ul>"


def compared_section(root: Path, summary: dict[str, Any] | None) -> list[str]:
    """Another run's verdicts (``--compare``): the default beside the longer run, or the other way round."""
    heading = f"<h2>Beside it: the run in {html.escape(str(root))}</h2>"
    if summary is None:
        return [
            heading,
            f"<p>No finished run there yet (no {html.escape(str(root / 'summary.json'))}). Once it has finished, "
            "rerun this report with <code>--force report</code>.</p>",
        ]
    return [
        heading,
        verdict_list(summary),
        f"<p>Its critic's held-out F1 and its policies' held-out score are drawn in the curves below as "
        f"<code>{html.escape(root.name)}: ...</code>.</p>",
    ]


def write_report(
    root: Path,
    summary: dict[str, Any],
    curves: dict[str, list[tuple[float, float]]],
    compared: tuple[Path, dict[str, Any] | None] | None = None,
) -> Path:
    """``<root>/report/index.html`` with its plots beside it; returns the HTML path. ``compared``: another run's
    folder and its summary (``None`` while it has none), shown after this run's results."""
    out = root / "report"
    out.mkdir(parents=True, exist_ok=True)
    critic = summary["critic"]
    grounding = critic["grounding"]
    policy_rows = [
        [variant, e["svg"]["render_rate"], e["svg"]["score"], e["svg"].get("score_std"),
         ", ".join(f"{s:.3f}" for s in e["svg"]["seeds"])]
        for variant, e in summary["policy"].items()
    ]  # fmt: skip
    sections = [
        "<h1>Visual-ERM in miniature</h1>",
        verdict_list(summary),
        f"<p>{html.escape(models_line(summary.get('model_sizes', {})))} Every number is measured on references no "
        "model trained on.</p>",
        "<h2>Critic on pairs of held-out references</h2>",
        critic_table(critic),
        f"<p>Does it look? Loss per critique token with the real candidate {_loss(grounding['real'])}, with the "
        f"reference shown twice {_loss(grounding['blind'])} (gap {_loss(grounding['gap'])}; a critic blind to the "
        "candidate has a gap of 0).</p>",
        *(
            [
                "<h2>Critic on the base policy's own answers (held-out references)</h2>",
                "<p>What GRPO asks it about: the base's sampled answers, labelled by diffing their shapes with the "
                "reference's. The severity Pearson here is what orders a group's rollouts.</p>",
                critic_table(critic["policy_answers"]),
            ]
            if "policy_answers" in critic
            else []
        ),
        "<h2>Policy before and after RL</h2>",
        f"<p>Score: {html.escape(summary['primary_metric']['svg'])}, mean over the held-out references; one value "
        "per seed.</p>",
        _table(["policy", "render rate", "score", "std over seeds", "per seed"], policy_rows),
        *agreement_section(summary.get("reward_agreement", {})),
        *(compared_section(*compared) if compared is not None else []),
        "<h2>Learning curves</h2>",
    ]
    for stem, title, keys, ylabel in PLOTS:
        wanted = {name: pts for name, pts in curves.items() if any(k in name for k in keys.split("|"))}
        if plot(out / f"{stem}.png", title, wanted, ylabel):
            sections.append(f'<figure><img src="{stem}.png" alt="{html.escape(title)}"></figure>')
    sections.append(f"<h2>summary.json</h2><pre>{html.escape(json.dumps(summary, indent=2))}</pre>")
    style = "body{font-family:sans-serif;max-width:960px;margin:2em auto}td,th{border:1px solid #ccc;padding:4px 8px}"
    page = f"<!doctype html><meta charset=utf-8><title>Visual-ERM in miniature</title><style>{style}</style>"
    path = out / "index.html"
    path.write_text(page + "\n".join(sections) + "\n", encoding="utf-8")
    return path
