"""Build the critic prompt profile of the released Visual-ERM judge from a local clone of its public repository.

    git clone https://github.com/InternLM/Visual-ERM /path/to/Visual-ERM
    python tools/build_prompt_profile.py --repo /path/to/Visual-ERM --out profiles/visual_erm_released.json

The released weights (``internlm/Visual-ERM``) answer best when asked exactly as they were trained: that text lives
in the public reward code, which this project does not redistribute. This tool reads it from the user's clone with
``ast`` — the files are parsed, never imported or executed — and writes a profile file that
``src.reward.critic_profile.load_profile`` reads. What it reads, per domain:

- chart and SVG (``rl_scripts/reward_func/reward_utils.py`` and ``omnirender_rm_v3.py``): the instruction constants,
  the thumbnail cap and JPEG encoding of ``encode_image``, the sampling dictionary (``DEFAULT_MODEL_KWARGS``), the
  number of attempts (``get_reward_from_rm``'s ``retry``) and the reward's numbers (``MAX_SEVERITY``,
  ``SEVERITY_AVG``, ``BASE_RENDER_SUCCESS_REWARD``, ``REWARD_MAX``, ``REWARD_MIN``);
- tables (``rl_scripts/reward_func/table_parse_rm_v2.py``): the instruction that ``build_error_prompt_for_images``
  returns, the ``<image>`` prefix added in ``compute_score``, the system turn and greedy sampling of
  ``vlm_client_qa``, the crop padding and thumbnail caps of the images, the one judge call per candidate and the
  failure value (``reward_score = <n>``, returned negated).

How the released code *reads* an answer (its parsers) is behaviour, not a value: ``src.reward.parse`` implements
both readers, and the profile names which one a domain uses. The tool checks that the functions it names are there
(``parse_error_response`` and ``extract_json_object``; ``parse_error_response`` and ``calculate_error_score``) and
records a fingerprint of each (SHA-256 of its syntax tree) so that a changed reader shows up in the provenance.

``--bench-out`` also writes the benchmark's matcher profile (``src.eval.matching.MatcherProfile``) from
``evaluation/evaluation.py``: the matcher prompt of ``build_llm_prompt`` (its text and where the category, allowed
types and both error lists go), the system turn and token budget of ``call_api``, and ``CATEGORY_ERROR_TYPES``.

Any of these that cannot be found is an error that names the file and the construct: a silently defaulted value
would give a judge that is subtly off-protocol. The output records the clone's commit and each file's SHA-256.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a script from a checkout, before `pip install -e .`
    sys.path.insert(0, str(ROOT))

from src.engines.engine import SERVER_DEFAULT_FIELDS, SamplingSettings  # noqa: E402
from src.eval.matching import MatcherProfile, save_matcher_profile  # noqa: E402
from src.reward.critic_profile import (  # noqa: E402
    ERROR_FIELDS,
    AnswerProtocol,
    CriticProfile,
    DomainPrompt,
    ImageEncoding,
    save_profile,
)
from src.reward.reward import ReleasedScoring  # noqa: E402

CHART_SVG_PROMPTS = Path("rl_scripts/reward_func/reward_utils.py")
CHART_SVG_REWARD = Path("rl_scripts/reward_func/omnirender_rm_v3.py")
TABLE_REWARD = Path("rl_scripts/reward_func/table_parse_rm_v2.py")
EVALUATOR = Path("evaluation/evaluation.py")
_MAX_SOURCE_BYTES = 2_000_000
_PIL_DEFAULT_JPEG_QUALITY = 75  # PIL's quality when ``save(format="JPEG")`` is given none
# The released sampling dict's keys → ours (``n`` is the number of samples, the judge's own business).
_SAMPLING_KEYS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "repetition_penalty": "repetition_penalty",
    "presence_penalty": "presence_penalty",
    "max_tokens": "max_new_tokens",
    "seed": "seed",
}


class ProfileSourceError(ValueError):
    """The clone lacks something the profile needs; the message names the file and the construct."""


def build_released_profile(repo: Path) -> CriticProfile:
    """The released judge's protocol, read from the clone at ``repo``."""
    prompts = _SourceFile(repo, CHART_SVG_PROMPTS)
    reward = _SourceFile(repo, CHART_SVG_REWARD)
    table = _SourceFile(repo, TABLE_REWARD)

    encode = prompts.function("encode_image")
    save_format, quality = _jpeg_or_png_save(prompts, encode)
    chart_svg_image = ImageEncoding(format=save_format, jpeg_quality=quality, max_side=_max_img_side(prompts))

    kwargs = reward.literal_assignment("DEFAULT_MODEL_KWARGS")
    if not isinstance(kwargs, dict):
        raise reward.error("DEFAULT_MODEL_KWARGS: expected a dict literal")
    sampling = SamplingSettings(**{_SAMPLING_KEYS[k]: v for k, v in kwargs.items() if k in _SAMPLING_KEYS})

    chart = prompts.string_assignment("PROMPT_CHART2CODE_JUDGEMENT")
    svg = prompts.string_assignment("PROMPT_IMG2SVG_JUDGEMENT")
    chart_svg_protocol = _chart_svg_protocol(reward)
    domains = {
        "chart": DomainPrompt(
            instruction=chart,
            error_fields=_error_fields(chart, prompts, "chart"),
            image=chart_svg_image,
            protocol=chart_svg_protocol,
        ),
        "svg": DomainPrompt(
            instruction=svg,
            error_fields=_error_fields(svg, prompts, "svg"),
            image=chart_svg_image,
            protocol=chart_svg_protocol,
        ),
        "table": _table_prompt(table),
    }
    return CriticProfile(
        name="visual-erm-released",
        image_format="png",  # the prepared pixels travel losslessly; JPEG was already applied by the profile
        sampling=sampling,
        domains=domains,
        source={
            "repository": "InternLM/Visual-ERM",
            "commit": _git_head(repo),
            "files": {str(f.rel): f.sha256 for f in (prompts, reward, table)},
            "readers": {
                f"{f.rel}:{name}": f.fingerprint(name)
                for f, names in (
                    (reward, ("parse_error_response", "extract_json_object", "extract_score_from_rm_response")),
                    (table, ("parse_error_response", "calculate_error_score")),
                )
                for name in names
            },
            "built_by": "tools/build_prompt_profile.py",
            "note": "holds the public repository's prompt text: keep this file out of version control",
        },
    )


def _chart_svg_protocol(reward: _SourceFile) -> AnswerProtocol:
    """Attempts and reward numbers of the chart/SVG reward (its reader is ``released_chart_svg``)."""
    for name in ("parse_error_response", "extract_json_object", "extract_score_from_rm_response", "compute_score"):
        reward.function(name)  # the reader and scorer this protocol stands for must be there
    attempts = _parameter_defaults(reward.function("get_reward_from_rm")).get("retry")
    numbers = {name: reward.literal_assignment(name) for name in _CHART_SVG_NUMBERS}
    bad = {k: v for k, v in numbers.items() if isinstance(v, bool) or not isinstance(v, int | float)}
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1 or bad:
        raise reward.error(f"get_reward_from_rm retry={attempts!r}; non-numeric constants {bad}")
    try:
        scoring = ReleasedScoring(
            formula="clipped",
            max_severity=float(numbers["MAX_SEVERITY"]),
            render_reward=float(numbers["BASE_RENDER_SUCCESS_REWARD"]),
            judge_weight=float(numbers["REWARD_MAX"] - numbers["BASE_RENDER_SUCCESS_REWARD"]),
            failure_severity=-float(numbers["SEVERITY_AVG"]),  # stored as a (negative) score there
            min_reward=float(numbers["REWARD_MIN"]),
        )
    except ValueError as exc:
        raise reward.error(f"reward constants: {exc}") from None
    return AnswerProtocol(parser="released_chart_svg", attempts=attempts, scoring=scoring)


_CHART_SVG_NUMBERS = ("MAX_SEVERITY", "SEVERITY_AVG", "BASE_RENDER_SUCCESS_REWARD", "REWARD_MAX", "REWARD_MIN")


def _table_protocol(table: _SourceFile, score: ast.FunctionDef) -> AnswerProtocol:
    """One judge call (no loop around it) and the failure value ``reward_score = <n>``, returned as ``-reward_score``."""
    for name in ("parse_error_response", "calculate_error_score"):
        table.function(name)
    calls = [n for n in ast.walk(score) if isinstance(n, ast.Call) and _callee(n) == "vlm_client_qa"]
    looped = [n for n in ast.walk(score) if isinstance(n, ast.For | ast.While) and _contains(n, calls)]
    if len(calls) != 1 or looped:
        raise table.error(f"compute_score: expected one vlm_client_qa call outside loops, found {len(calls)}")
    values = {
        _const(node.value)
        for node in ast.walk(score)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "reward_score" for t in node.targets)
        and isinstance(_const(node.value), int | float)
    }
    negated = any(
        isinstance(node, ast.Return)
        and isinstance(node.value, ast.UnaryOp)
        and isinstance(node.value.op, ast.USub)
        and isinstance(node.value.operand, ast.Name)
        and node.value.operand.id == "reward_score"
        for node in ast.walk(score)
    )
    if len(values) != 1 or not negated:
        raise table.error(f"compute_score: failure values {sorted(values)}; returns -reward_score: {negated}")
    failure = float(values.pop())
    return AnswerProtocol(
        parser="released_table",
        attempts=1,
        scoring=ReleasedScoring(formula="negative_sum", failure_severity=failure, min_reward=-failure),
    )


def _contains(tree: ast.AST, nodes: list[ast.Call]) -> bool:
    inside = {id(n) for n in ast.walk(tree)}
    return any(id(n) in inside for n in nodes)


def _table_prompt(table: _SourceFile) -> DomainPrompt:
    instruction = table.returned_string("build_error_prompt_for_images")
    score = table.function("compute_score")
    prefix_pair = _string_prepended_to(score, "prompt")
    if prefix_pair is None:
        raise table.error("compute_score: no `prompt = <image markers> + prompt` assignment")
    half = len(prefix_pair) // 2
    if len(prefix_pair) % 2 or prefix_pair[:half] != prefix_pair[half:]:
        raise table.error(f"compute_score: prompt prefix {prefix_pair!r} is not one marker per image (two images)")

    qa = table.function("vlm_client_qa")
    systems = {
        _dict_get(node, "content")
        for node in ast.walk(qa)
        if isinstance(node, ast.Dict) and _dict_get(node, "role") == "system"
    }
    if len(systems) != 1 or not isinstance(next(iter(systems)), str):
        raise table.error(f"vlm_client_qa: expected one system turn text, found {len(systems)}")

    call_defaults = _parameter_defaults(qa)
    call_defaults.update(_call_keywords(score, "vlm_client_qa"))
    extra = [_dict_literal(kw.value) for node in ast.walk(qa) for kw in _keywords(node, "extra_body")]
    repetition = {e.get("repetition_penalty", 1.0) for e in extra}
    if len(repetition) > 1:
        raise table.error(f"vlm_client_qa: differing repetition penalties {sorted(repetition)}")
    # What its create() calls pass (top-level keywords, extra_body keys); the rest is left to the server's defaults.
    sent = {kw.arg for node in ast.walk(qa) if isinstance(node, ast.Call) and _callee(node) == "create"
            for kw in node.keywords if kw.arg}  # fmt: skip
    sent |= {key for e in extra for key in e}
    try:
        sampling = SamplingSettings(
            temperature=float(call_defaults["temperature"]),
            max_new_tokens=int(call_defaults["max_new_tokens"]),
            repetition_penalty=float(repetition.pop() if repetition else 1.0),
            server_defaults=tuple(f for f in SERVER_DEFAULT_FIELDS if f not in sent),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise table.error(f"vlm_client_qa: cannot read temperature / max_new_tokens: {exc!r}") from None

    crop = table.function("crop_with_padding")
    padding = _call_keywords(score, "crop_with_padding").get("padding", _parameter_defaults(crop).get("padding"))
    sides = {*_thumbnail_sides(crop), *_thumbnail_sides(score)}
    if not isinstance(padding, int) or len(sides) != 1:
        raise table.error(f"crop_with_padding / compute_score: padding {padding!r}, thumbnail caps {sorted(sides)}")
    return DomainPrompt(
        instruction=instruction,
        system=next(iter(systems)),
        image_prefix=prefix_pair[:half],
        error_fields=_error_fields(instruction, table, "table"),
        image=ImageEncoding(format="png", max_side=sides.pop(), crop_padding=padding, crop_reference=False),
        sampling=sampling,
        protocol=_table_protocol(table, score),
    )


class _SourceFile:
    """One Python file of the clone, parsed (never run)."""

    def __init__(self, repo: Path, rel: Path) -> None:
        self.rel = rel
        path = repo / rel
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ProfileSourceError(f"{rel}: cannot read ({exc.strerror}); is --repo a clone of Visual-ERM?") from None
        if len(data) > _MAX_SOURCE_BYTES:
            raise ProfileSourceError(f"{rel}: {len(data)} bytes, more than a source file should hold")
        self.sha256 = hashlib.sha256(data).hexdigest()
        try:
            self.tree = ast.parse(data.decode("utf-8"), filename=str(rel))
        except (UnicodeDecodeError, SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise ProfileSourceError(f"{rel}: not readable Python: {exc}") from None

    def error(self, what: str) -> ProfileSourceError:
        return ProfileSourceError(f"{self.rel}: {what}")

    def module_value(self, name: str) -> ast.expr:
        value = None
        for node in self.tree.body:  # module level only; the last binding wins, as at import time
            if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                value = node.value
        if value is None:
            raise self.error(f"no module-level assignment to {name}")
        return value

    def string_assignment(self, name: str) -> str:
        text = _string_value(self.module_value(name))
        if text is None:
            raise self.error(f"{name}: not a string literal")
        return text

    def literal_assignment(self, name: str) -> Any:
        try:
            return ast.literal_eval(self.module_value(name))
        except (ValueError, TypeError, SyntaxError, RecursionError) as exc:
            raise self.error(f"{name}: not a literal ({exc})") from None

    def function(self, name: str) -> ast.FunctionDef:
        found = [n for n in self.tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
        if not found:
            raise self.error(f"no function {name}()")
        return found[-1]

    def fingerprint(self, function: str) -> str:
        """SHA-256 of the function's syntax tree (comments and formatting do not change it)."""
        return hashlib.sha256(ast.dump(self.function(function)).encode()).hexdigest()

    def returned_string(self, function: str) -> str:
        func = self.function(function)
        for node in ast.walk(func):
            if isinstance(node, ast.Return) and node.value is not None:
                text = _string_value(node.value)
                if text is None and isinstance(node.value, ast.Name):
                    text = _last_string_assigned(func, node.value.id)
                if text is not None:
                    return text
        raise self.error(f"{function}(): returns no string literal")


def _string_value(node: ast.expr) -> str | None:
    """A str literal, including ``"a" + "b"`` folds."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string_value(node.left), _string_value(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def _last_string_assigned(func: ast.FunctionDef, name: str) -> str | None:
    text = None
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            text = _string_value(node.value) or text
    return text


def _string_prepended_to(func: ast.FunctionDef, name: str) -> str | None:
    """The literal in ``name = "<literal>" + name``."""
    for node in ast.walk(func):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.BinOp)
            and isinstance(node.value.op, ast.Add)
            and isinstance(node.value.right, ast.Name)
            and node.value.right.id == name
        ):
            return _string_value(node.value.left)
    return None


def _const(node: ast.expr | None) -> Any:
    return node.value if isinstance(node, ast.Constant) else None


def _dict_get(node: ast.Dict, key: str) -> Any:
    for k, v in zip(node.keys, node.values, strict=True):
        if _const(k) == key:
            return _const(v)
    return None


def _dict_literal(node: ast.expr) -> dict[str, Any]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _keywords(node: ast.AST, name: str) -> list[ast.keyword]:
    return [kw for kw in node.keywords if kw.arg == name] if isinstance(node, ast.Call) else []


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _call_keywords(func: ast.FunctionDef, callee: str) -> dict[str, Any]:
    """Literal keyword arguments of calls to ``callee`` inside ``func`` (later calls win)."""
    out: dict[str, Any] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and _callee(node) == callee:
            out.update({kw.arg: _const(kw.value) for kw in node.keywords if kw.arg and _const(kw.value) is not None})
    return out


def _parameter_defaults(func: ast.FunctionDef) -> dict[str, Any]:
    args = func.args.args
    return {
        a.arg: _const(d) for a, d in zip(args[len(args) - len(func.args.defaults) :], func.args.defaults, strict=True)
    }


def _thumbnail_sides(func: ast.FunctionDef) -> set[int]:
    sides: set[int] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and _callee(node) == "thumbnail" and node.args:
            size = node.args[0]
            if isinstance(size, ast.Tuple):
                sides.update(v for v in map(_const, size.elts) if isinstance(v, int))
    return sides


def _max_img_side(prompts: _SourceFile) -> int:
    """``MAX_IMG_SIDE = 1024`` or ``MAX_IMG_SIDE = os.getenv('MAX_IMG_SIDE', 1024)`` (the default when unset)."""
    node = prompts.module_value("MAX_IMG_SIDE")
    value = _const(node.args[-1]) if isinstance(node, ast.Call) and node.args else _const(node)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise prompts.error(f"MAX_IMG_SIDE: cannot read a default side from {ast.unparse(node)!r}")
    return value


def _jpeg_or_png_save(prompts: _SourceFile, encode: ast.FunctionDef) -> tuple[Any, int]:
    for node in ast.walk(encode):
        if isinstance(node, ast.Call) and _callee(node) == "save":
            fmt = next((_const(kw.value) for kw in _keywords(node, "format")), None)
            quality = next((_const(kw.value) for kw in _keywords(node, "quality")), _PIL_DEFAULT_JPEG_QUALITY)
            if isinstance(fmt, str) and fmt.lower() in ("jpeg", "jpg", "png") and isinstance(quality, int):
                return ("png" if fmt.lower() == "png" else "jpeg"), quality
    raise prompts.error("encode_image(): no `save(..., format='JPEG' or 'PNG')` call")


def _error_fields(instruction: str, source: _SourceFile, domain: str) -> tuple[str, ...]:
    """The keys of an error object, in the order the instruction's schema lists them."""
    at = instruction.find('"errors"')
    if at < 0:
        raise source.error(f"{domain} instruction: no '\"errors\"' list in its answer schema")
    schema = instruction[at:]
    found = sorted((schema.find(f'"{key}"'), key) for key in ERROR_FIELDS if f'"{key}"' in schema)
    keys = tuple(key for _, key in found)
    if "severity" not in keys:
        raise source.error(f"{domain} instruction: its answer schema has no 'severity'")
    return keys


def build_matcher_profile(repo: Path) -> MatcherProfile:
    """The public evaluator's LLM matcher protocol, read from ``evaluation/evaluation.py`` of the clone."""
    evaluator = _SourceFile(repo, EVALUATOR)
    build = evaluator.function("build_llm_prompt")
    prompts = [n.value for n in ast.walk(build) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)]
    template = next(
        (
            call.func.value
            for call in prompts
            if isinstance(call.func, ast.Attribute)
            and call.func.attr == "strip"
            and isinstance(call.func.value, ast.JoinedStr)
        ),
        None,
    )
    if template is None:
        raise evaluator.error('build_llm_prompt: no `prompt = f"""...""".strip()` assignment')
    pieces: list[dict[str, str]] = []
    for part in template.values:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            pieces.append({"text": part.value})
        elif isinstance(part, ast.FormattedValue) and part.conversion == -1 and part.format_spec is None:
            field = _MATCHER_FIELDS.get(ast.unparse(part.value))
            if field is None:
                raise evaluator.error(f"build_llm_prompt: unknown placeholder {{{ast.unparse(part.value)}}}")
            pieces.append({"field": field})
        else:
            raise evaluator.error("build_llm_prompt: a placeholder with a conversion or format spec")
    for name in ("parse_llm_output", "evaluate_one_item_with_llm"):
        evaluator.function(name)
    api = evaluator.function("call_api")
    systems = {
        _dict_get(node, "content")
        for node in ast.walk(api)
        if isinstance(node, ast.Dict) and _dict_get(node, "role") == "system"
    }
    budget = {kw: v for kw, v in _call_keywords(api, "create").items() if kw in ("max_tokens", "temperature", "top_p")}
    types = evaluator.literal_assignment("CATEGORY_ERROR_TYPES")
    if len(systems) != 1 or "max_tokens" not in budget or not isinstance(types, dict):
        raise evaluator.error(f"call_api: system turns {sorted(map(str, systems))}, sampling {budget}")
    return MatcherProfile(
        name="vc-rewardbench-evaluator",
        prompt=tuple(pieces),
        system=next(iter(systems)),
        # The evaluator leaves temperature and top_p to the API (1.0 for OpenAI's); the token budget is its own.
        sampling=SamplingSettings(
            temperature=float(budget.get("temperature", 1.0)),
            top_p=float(budget.get("top_p", 1.0)),
            max_new_tokens=int(budget["max_tokens"]),
        ),
        allowed_types={str(k): tuple(v) for k, v in types.items()},
        released_reply=True,
        source={
            "repository": "InternLM/Visual-ERM",
            "commit": _git_head(repo),
            "files": {str(evaluator.rel): evaluator.sha256},
            "readers": {
                f"{evaluator.rel}:{n}": evaluator.fingerprint(n)
                for n in ("parse_llm_output", "evaluate_one_item_with_llm")
            },
            "built_by": "tools/build_prompt_profile.py",
            "note": "holds the public repository's prompt text: keep this file out of version control",
        },
    )


# The evaluator's placeholders → the values ``MatcherProfile.prompt_for`` fills in.
_MATCHER_FIELDS = {
    "category": "category",
    "allowed_types": "allowed_types",
    "json.dumps(pred_list, ensure_ascii=False, indent=2)": "predicted",
    "json.dumps(gt_list, ensure_ascii=False, indent=2)": "reference",
}


def _git_head(repo: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repo", type=Path, required=True, help="local clone of InternLM/Visual-ERM")
    parser.add_argument("--out", type=Path, required=True, help="profile file to write (JSON)")
    parser.add_argument("--bench-out", type=Path, help="also write the benchmark's matcher profile here (JSON)")
    args = parser.parse_args(argv)
    try:
        profile = build_released_profile(args.repo)
        matcher = build_matcher_profile(args.repo) if args.bench_out is not None else None
    except (ProfileSourceError, ValueError) as exc:
        parser.exit(2, f"build_prompt_profile: {exc}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out = save_profile(profile, args.out)
    print(f"wrote {out} (profile {profile.name!r}, commit {profile.source.get('commit') or 'unknown'})")
    if matcher is not None:
        args.bench_out.parent.mkdir(parents=True, exist_ok=True)
        print(f"wrote {save_matcher_profile(matcher, args.bench_out)} (matcher profile {matcher.name!r})")
    return out


if __name__ == "__main__":
    main()
