"""Critic prompt profiles: the words, message layout, image encoding and sampling a judge is asked with.

A critic answers well only under the protocol it was trained with. Ours (``builtin_profile``) is the prompt of
``src.data.prompts`` that ``VLMSFT`` trains on. The released ``internlm/Visual-ERM`` weights were trained
with other wording and, for tables, another layout and schema; their text is not ours to ship, so a user builds a
profile file from a local clone of the public repository (``tools/build_prompt_profile.py``) and loads it with
``load_profile``. Everything that differs between the two is data in the profile, never a code path:

- per domain: the instruction, an optional system turn, images before or after the text, a text prefix written once
  per image (the released table judge writes ``<image>`` markers), the error fields the answer carries (the released
  table schema has no ``location``), and the image encoding (thumbnail cap, JPEG re-encoding and quality, cropping
  the rendered candidate to its content with padding);
- sampling: the profile's default and an optional per-domain override (the released table reward samples greedily
  with a repetition penalty, charts and SVG at temperature 0.7);
- the answer protocol (``AnswerProtocol``): which reader turns an answer into a severity sum, how many times an
  unreadable answer is asked for, and which formula turns the sum into a reward. Ours is our lenient parser and the
  judge's ``RewardConfig``; the released judge's is its own reward code's reader, attempts and formula per domain,
  so that the released weights score here exactly as in the authors' RL runs.

Images reach the critic in one of two ways (``build_request(transport=...)``). ``encoded``, for an engine that
sends them over HTTP: the prepared image (cropped, thumbnailed, RGB) travels in the domain's own format, so the
server receives the very bytes the released reward code sends (a JPEG saved with PIL's defaults for charts and SVG,
a PNG for tables). ``pixels``, for an in-process engine: the image is decoded back from JPEG here, so the model sees
the pixels a server would have decoded, and travels as lossless PNG if it travels at all.

File format (JSON, ``format_version`` 1; ``protocol`` may be absent: our parser and reward)::

    {"format_version": 1, "name": "...", "image_format": "png",
     "sampling": {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "presence_penalty": 1.5, "max_new_tokens": 4096},
     "domains": {"chart": {"instruction": "...", "system": null, "images_first": true, "image_prefix": "",
                           "error_fields": ["category", "severity", "location", "description"],
                           "image": {"format": "jpeg", "jpeg_quality": 75, "max_side": 1024,
                                     "crop_padding": null, "crop_reference": false},
                           "sampling": null,
                           "protocol": {"parser": "released_chart_svg", "attempts": 2,
                                        "scoring": {"formula": "clipped", "max_severity": 50, ...}}},
                 "table": {...}, "svg": {...}},
     "source": {...provenance, free-form...}}
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast, overload

from PIL import Image

from src.data.prompts import CriticInstruction, critic_instruction
from src.data.schema import CATEGORY_KEY
from src.engines.engine import ChatRequest, ImageFormat, SamplingSettings
from src.render.image import crop_to_content
from src.render.job import DOMAINS
from src.reward.parse import released_chart_svg_severity, released_table_severity
from src.reward.reward import ReleasedScoring

PROFILE_FORMAT_VERSION = 1
# Keys an error object of the official answer may carry; the category key is per domain (``CATEGORY_KEY``).
ERROR_FIELDS = ("category", "type", "severity", "location", "description")
_MAX_PROFILE_BYTES = 4_000_000  # a profile is a few KB of text; refuse to read anything absurd into memory
# What an HTTP engine's JPEG encoding uses (PIL's default quality); another quality cannot travel encoded.
ENGINE_JPEG_QUALITY = 75
Transport = Literal["pixels", "encoded"]
AnswerParser = Literal["ours", "released_chart_svg", "released_table"]
_RELEASED_READERS = {"released_chart_svg": released_chart_svg_severity, "released_table": released_table_severity}


class ProfileError(ValueError):
    """A profile (file or object) that cannot be used; the message names the field and the file."""


@dataclass(frozen=True)
class ImageEncoding:
    """How one domain's images are prepared before the critic sees them.

    Args:
        format: ``jpeg`` re-encodes the pixels at ``jpeg_quality`` (the released chart/SVG judge saw JPEG
            thumbnails); ``png`` keeps them exact.
        jpeg_quality: PIL's quality when ``format`` is ``jpeg`` (75 is PIL's default, what the released code used).
        max_side: thumbnail cap on the longest side (PIL ``thumbnail``: keeps the aspect, never enlarges); ``None``
            keeps the size.
        crop_padding: crop the candidate to its content (what differs from the top-left pixel's colour) plus this
            many pixels each side, as the released table reward does with its screenshots; ``None`` keeps the frame.
        crop_reference: crop the reference the same way (the released reference tables came from datasets already
            tight; our references are rendered like the candidates).
    """

    format: ImageFormat = "png"
    jpeg_quality: int = 75
    max_side: int | None = 1024
    crop_padding: int | None = None
    crop_reference: bool = False

    def __post_init__(self) -> None:
        if self.format not in ("png", "jpeg"):
            raise ProfileError(f"image.format: {self.format!r} is not 'png' or 'jpeg'")
        if not _is_int(self.jpeg_quality) or not 1 <= self.jpeg_quality <= 100:
            raise ProfileError(f"image.jpeg_quality: {self.jpeg_quality!r} is not an integer in 1..100")
        if self.max_side is not None and (not _is_int(self.max_side) or not 16 <= self.max_side <= 16384):
            raise ProfileError(f"image.max_side: {self.max_side!r} is not null or an integer in 16..16384")
        if self.crop_padding is not None and (not _is_int(self.crop_padding) or not 0 <= self.crop_padding <= 4096):
            raise ProfileError(f"image.crop_padding: {self.crop_padding!r} is not null or an integer in 0..4096")
        if not isinstance(self.crop_reference, bool):
            raise ProfileError(f"image.crop_reference: {self.crop_reference!r} is not true or false")

    def fit(self, image: Image.Image, *, is_reference: bool) -> Image.Image:
        """The image cropped and thumbnailed as the critic expects, RGB, before any JPEG encoding."""
        if not isinstance(image, Image.Image):
            role = "reference_image" if is_reference else "candidate_image"
            raise TypeError(f"{role}: expected a PIL image, got {type(image).__name__}")
        out = image.copy()
        if self.crop_padding is not None and (self.crop_reference or not is_reference):
            out = crop_to_content(out.convert("RGB"), self.crop_padding, background="corner")
        if self.max_side is not None:
            out.thumbnail((self.max_side, self.max_side))  # the released code's call: bicubic, aspect kept
        return out.convert("RGB")

    def prepare(self, image: Image.Image, *, is_reference: bool) -> Image.Image:
        """The RGB pixels the critic sees (decoded back from JPEG when the format is JPEG); ``image`` is untouched."""
        out = self.fit(image, is_reference=is_reference)
        if self.format == "jpeg":
            buffer = io.BytesIO()
            out.save(buffer, format="JPEG", quality=self.jpeg_quality)
            with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
                out = decoded.convert("RGB")
        return out

    @property
    def travels_encoded(self) -> bool:
        """Whether an HTTP engine's own encoding of ``fit``'s image gives this encoding's bytes."""
        return self.format == "png" or self.jpeg_quality == ENGINE_JPEG_QUALITY


@dataclass(frozen=True)
class AnswerProtocol:
    """How one domain's answers are read, asked again and scored.

    Args:
        parser: ``ours`` (``src.reward.parse.parse_critique``, lenient), or the released reward code's reader for
            charts/SVG (``released_chart_svg``) or tables (``released_table``), which yield only a severity sum.
        attempts: the most times a pair is asked while its answer stays unreadable (released: 2 for charts and
            SVG, 1 for tables); ``None`` leaves it to the judge's ``retries``.
        scoring: the released reward formula; ``None`` scores with the judge's ``RewardConfig`` (then ``parser``
            must be ``ours``: group-max normalization needs our critiques).
    """

    parser: AnswerParser = "ours"
    attempts: int | None = None
    scoring: ReleasedScoring | None = None

    def __post_init__(self) -> None:
        if self.parser not in ("ours", *_RELEASED_READERS):
            raise ProfileError(f"protocol.parser: {self.parser!r} is not 'ours' or one of {list(_RELEASED_READERS)}")
        if self.attempts is not None and (not _is_int(self.attempts) or not 1 <= self.attempts <= 10):
            raise ProfileError(f"protocol.attempts: {self.attempts!r} is not null or an integer in 1..10")
        if self.parser != "ours" and self.scoring is None:
            raise ProfileError(f"protocol.scoring: the {self.parser} reader gives a severity sum only; set a formula")

    @property
    def released(self) -> bool:
        """Scored by the released formula rather than the judge's ``RewardConfig``."""
        return self.scoring is not None

    def severity(self, text: str) -> float | None:
        """S of a released reader (``None``: unreadable); only for a released ``parser``."""
        reader = _RELEASED_READERS.get(self.parser)
        if reader is None:
            raise ValueError("severity: this protocol reads answers with our parser, not a released one")
        return reader(text)


@dataclass(frozen=True)
class DomainPrompt:
    """How one domain's critic is asked.

    Args:
        instruction: the text of the user turn (besides image prefixes).
        system: a system turn's text, or ``None`` for no system turn.
        images_first: images before the text (both released prompts and ours), else after it.
        image_prefix: text written once per image at the start of the text, e.g. ``"<image>\\n"``; ``""`` for none.
        error_fields: the keys each error object of the answer carries (the released table schema has no
            ``location``); evaluation and data conversion read it, the parser accepts either way.
        image: how the images are prepared.
        sampling: overrides the profile's sampling for this domain; ``None`` uses the profile's.
        protocol: how answers are read and scored; default: our parser and the judge's reward settings.
    """

    instruction: str
    system: str | None = None
    images_first: bool = True
    image_prefix: str = ""
    error_fields: tuple[str, ...] = ("category", "severity", "location", "description")
    image: ImageEncoding = field(default_factory=ImageEncoding)
    sampling: SamplingSettings | None = None
    protocol: AnswerProtocol = field(default_factory=AnswerProtocol)

    def __post_init__(self) -> None:
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise ProfileError("instruction: must be a non-empty string")
        if self.system is not None and not isinstance(self.system, str):
            raise ProfileError(f"system: expected a string or null, got {type(self.system).__name__}")
        if not isinstance(self.images_first, bool):
            raise ProfileError(f"images_first: {self.images_first!r} is not true or false")
        if not isinstance(self.image_prefix, str):
            raise ProfileError(f"image_prefix: expected a string, got {type(self.image_prefix).__name__}")
        object.__setattr__(self, "error_fields", tuple(self.error_fields))
        unknown = [f for f in self.error_fields if f not in ERROR_FIELDS]
        if unknown or "severity" not in self.error_fields:
            raise ProfileError(
                f"error_fields: {list(self.error_fields)} must include 'severity' and only {ERROR_FIELDS}"
            )

    @property
    def has_location(self) -> bool:
        return "location" in self.error_fields

    def messages(self, reference: Image.Image, candidate: Image.Image) -> list[dict[str, Any]]:
        """Chat messages (HF layout) for already prepared images, reference first."""
        text = self.image_prefix * 2 + self.instruction
        images: list[dict[str, Any]] = [{"type": "image", "image": reference}, {"type": "image", "image": candidate}]
        parts = (
            [*images, {"type": "text", "text": text}]
            if self.images_first
            else [{"type": "text", "text": text}, *images]
        )
        messages: list[dict[str, Any]] = [{"role": "system", "content": self.system}] if self.system is not None else []
        messages.append({"role": "user", "content": parts})
        return messages


def _builtin_domains(max_image_side: int = 1024, instruction: CriticInstruction = "full") -> dict[str, DomainPrompt]:
    return {
        domain: DomainPrompt(
            instruction=critic_instruction(domain, instruction),
            error_fields=(CATEGORY_KEY[domain], "severity", "location", "description"),
            image=ImageEncoding(format="png", max_side=max_image_side),
        )
        for domain in DOMAINS
    }


@dataclass(frozen=True)
class CriticProfile:
    """A judge's prompt protocol. ``build_request`` (and ``sampling_for``) is all a judge needs from it.

    Args:
        name: shown in logs and reports.
        image_format: how an HTTP engine carries the prepared images (PNG keeps the prepared pixels exact).
        sampling: default sampling for every domain.
        domains: per-domain prompt; every domain of ``src.render.job.DOMAINS`` is present.
        source: provenance (where the text came from); never read by code.
    """

    name: str = "builtin"
    image_format: ImageFormat = "png"
    sampling: SamplingSettings = field(default_factory=lambda: SamplingSettings(temperature=0.0, max_new_tokens=1024))
    domains: dict[str, DomainPrompt] = field(default_factory=_builtin_domains, hash=False)
    source: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ProfileError("name: must be a non-empty string")
        if self.image_format not in ("png", "jpeg"):
            raise ProfileError(f"image_format: {self.image_format!r} is not 'png' or 'jpeg'")
        missing = [d for d in DOMAINS if d not in self.domains]
        extra = [d for d in self.domains if d not in DOMAINS]
        if missing or extra:
            raise ProfileError(f"domains: need exactly {list(DOMAINS)}; missing {missing}, unknown {extra}")

    def domain(self, domain: str) -> DomainPrompt:
        if domain not in self.domains:
            raise ValueError(f"domain: {domain!r} is not one of {DOMAINS}")
        return self.domains[domain]

    def sampling_for(self, domain: str) -> SamplingSettings:
        """The sampling to judge ``domain`` with: the domain's override, else the profile's."""
        return self.domain(domain).sampling or self.sampling

    def build_request(
        self,
        domain: str,
        reference_image: Image.Image,
        candidate_image: Image.Image,
        transport: Transport = "pixels",
    ) -> ChatRequest:
        """The chat request asking this profile's critic to compare ``candidate_image`` with ``reference_image``.

        ``transport="encoded"`` is for engines that send images over HTTP in the request's ``image_format``: the
        images are left for the engine to encode in the domain's format, byte for byte what the released code sends.
        ``"pixels"`` (in-process engines) applies the JPEG round trip here. A JPEG quality an engine cannot encode
        with travels as ``pixels``.
        """
        prompt = self.domain(domain)
        encoding = prompt.image
        if transport == "encoded" and encoding.travels_encoded:
            reference = encoding.fit(reference_image, is_reference=True)
            candidate = encoding.fit(candidate_image, is_reference=False)
            image_format: ImageFormat = encoding.format
        elif transport in ("encoded", "pixels"):
            reference = encoding.prepare(reference_image, is_reference=True)
            candidate = encoding.prepare(candidate_image, is_reference=False)
            image_format = self.image_format
        else:
            raise ValueError(f"transport: {transport!r} is not 'pixels' or 'encoded'")
        return ChatRequest(messages=prompt.messages(reference, candidate), image_format=image_format, tag=domain)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form ``load_profile`` reads back."""
        return {
            "format_version": PROFILE_FORMAT_VERSION,
            "name": self.name,
            "image_format": self.image_format,
            "sampling": asdict(self.sampling),
            "domains": {
                d: {
                    **{
                        k: v for k, v in asdict(p).items() if k not in ("image", "sampling", "error_fields", "protocol")
                    },
                    "error_fields": list(p.error_fields),
                    "image": asdict(p.image),
                    "sampling": None if p.sampling is None else asdict(p.sampling),
                    "protocol": asdict(p.protocol),
                }
                for d, p in self.domains.items()
            },
            "source": self.source,
        }


def builtin_profile(max_image_side: int = 1024, instruction: CriticInstruction = "full") -> CriticProfile:
    """Our own critic prompt (the one ``VLMSFT`` trains with); PNG images capped at ``max_image_side``.

    ``instruction="short"`` is the prompt of a critic trained with ``RewardModelDataModule(instruction="short")``.
    """
    name = "builtin" if instruction == "full" else f"builtin-{instruction}"
    return CriticProfile(name=name, domains=_builtin_domains(max_image_side, instruction))


def save_profile(profile: CriticProfile, path: str | Path) -> Path:
    """Write ``profile`` as JSON (UTF-8, readable diffs) and return the path."""
    path = Path(path)
    path.write_text(json.dumps(profile.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_profile(path: str | Path) -> CriticProfile:
    """The profile stored at ``path``; raises ``ProfileError`` naming the file and field on any bad content."""
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_PROFILE_BYTES:
            raise ProfileError(f"{path}: {path.stat().st_size} bytes; a profile is at most {_MAX_PROFILE_BYTES}")
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProfileError(f"{path}: cannot read a JSON profile: {exc}") from None
    try:
        return profile_from_dict(raw)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def profile_from_dict(raw: Any) -> CriticProfile:
    """Validate the JSON form strictly: unknown keys are errors (a misspelt key would silently use a default)."""
    obj = _object(raw, "profile", required={"format_version", "name", "sampling", "domains"}, allowed=_PROFILE_KEYS)
    if obj["format_version"] != PROFILE_FORMAT_VERSION:
        raise ProfileError(f"format_version: {obj['format_version']!r}; this code reads {PROFILE_FORMAT_VERSION}")
    domains_raw = _object(obj["domains"], "domains", required=set(DOMAINS), allowed=set(DOMAINS))
    source = obj.get("source", {})
    if not isinstance(source, dict):
        raise ProfileError("source: expected an object")
    return CriticProfile(
        name=cast(str, obj["name"]),
        image_format=cast(ImageFormat, obj.get("image_format", "png")),
        sampling=_sampling(obj["sampling"], "sampling", allow_null=False),
        domains={d: _domain_prompt(domains_raw[d], f"domains.{d}") for d in DOMAINS},
        source=source,
    )


_PROFILE_KEYS = {"format_version", "name", "image_format", "sampling", "domains", "source"}
_DOMAIN_KEYS = {
    "instruction",
    "system",
    "images_first",
    "image_prefix",
    "error_fields",
    "image",
    "sampling",
    "protocol",
}
_IMAGE_KEYS = {f.name for f in fields(ImageEncoding)}
_PROTOCOL_KEYS = {f.name for f in fields(AnswerProtocol)}
_SCORING_KEYS = {f.name for f in fields(ReleasedScoring)}
_SAMPLING_KEYS = {f.name for f in fields(SamplingSettings)}


def _domain_prompt(raw: Any, where: str) -> DomainPrompt:
    obj = _object(raw, where, required={"instruction"}, allowed=_DOMAIN_KEYS)
    image = _object(obj.get("image", {}), f"{where}.image", required=set(), allowed=_IMAGE_KEYS)
    fields_raw = obj.get("error_fields", ["category", "severity", "location", "description"])
    if not isinstance(fields_raw, list) or not all(isinstance(f, str) for f in fields_raw):
        raise ProfileError(f"{where}.error_fields: expected a list of strings")
    try:
        return DomainPrompt(
            instruction=obj["instruction"],
            system=obj.get("system"),
            images_first=obj.get("images_first", True),
            image_prefix=obj.get("image_prefix", ""),
            error_fields=tuple(fields_raw),
            image=ImageEncoding(**image),
            sampling=_sampling(obj.get("sampling"), "sampling"),
            protocol=_protocol(obj.get("protocol")),
        )
    except ProfileError as exc:
        raise ProfileError(f"{where}.{exc}") from None


def _protocol(raw: Any) -> AnswerProtocol:
    """The ``protocol`` object; errors name fields relative to the domain (``protocol.scoring.formula``)."""
    if raw is None:
        return AnswerProtocol()
    obj = _object(raw, "protocol", required=set(), allowed=_PROTOCOL_KEYS)
    scoring = obj.get("scoring")
    if scoring is not None:
        scoring_obj = _object(scoring, "protocol.scoring", required={"formula"}, allowed=_SCORING_KEYS)
        try:
            scoring = ReleasedScoring(**scoring_obj)
        except (TypeError, ValueError) as exc:
            raise ProfileError(f"protocol.scoring: {exc}") from None
    return AnswerProtocol(parser=obj.get("parser", "ours"), attempts=obj.get("attempts"), scoring=scoring)


@overload
def _sampling(raw: Any, where: str, allow_null: Literal[False]) -> SamplingSettings: ...
@overload
def _sampling(raw: Any, where: str, allow_null: bool = True) -> SamplingSettings | None: ...
def _sampling(raw: Any, where: str, allow_null: bool = True) -> SamplingSettings | None:
    if raw is None and allow_null:
        return None
    obj = _object(raw, where, required=set(), allowed=_SAMPLING_KEYS)
    for key, value in obj.items():
        number_ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if key == "seed" and value is None:
            continue
        if key == "server_defaults":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ProfileError(f"{where}.server_defaults: {value!r} is not a list of field names")
            continue
        integer = key in ("top_k", "max_new_tokens", "seed")
        if not number_ok or (integer and not _is_int(value)):
            raise ProfileError(f"{where}.{key}: {value!r} is not a finite {'integer' if integer else 'number'}")
    try:
        return SamplingSettings(**obj)
    except ValueError as exc:
        raise ProfileError(f"{where}.{exc}") from None


def _object(raw: Any, where: str, *, required: set[str], allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: expected an object, got {type(raw).__name__}")
    missing = sorted(required - raw.keys())
    unknown = sorted(str(k) for k in raw.keys() - allowed)
    if missing or unknown:
        raise ProfileError(f"{where}: missing keys {missing}, unknown keys {unknown}")
    return raw


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
