"""The framing of a child's result (a header, then the pixels) and the strict check of what the worker reads back.

It is a module of its own because both sides speak it: the child writes with ``_send``, the worker reads with
``_read_header``. Everything a child writes is untrusted: a frame that is not exactly what ``_send`` writes is a
``forbidden`` verdict, never an exception.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass

from src.render.job import ERROR_KINDS

_MAGIC = b"VERM"
_HEADER_MAX = 1 << 16
_MAX_SIDE = 1 << 15  # no drawing function returns a side this long (charts and SVG are capped far below it)


@dataclass
class _Frame:
    """What a child sent: ``complete`` once the whole framed result is in; ``malformed`` says why a frame can never
    be one ``_send`` wrote (the job wrote into the result pipe itself)."""

    header: dict | None = None
    pixels: bytes = b""
    complete: bool = False
    timed_out: bool = False
    malformed: str | None = None


class _MalformedFrame(ValueError):
    pass


def _pixel_bytes(header: dict | None) -> int:
    return header["width"] * header["height"] * 4 if header is not None and header["status"] == "ok" else 0


def _read_header(data: bytes | bytearray, max_bytes: int) -> tuple[dict, int] | None:
    """(header, length of the whole frame) once the header is in; None while it is not; ``_MalformedFrame`` when the
    bytes cannot be the start of a frame ``_send`` wrote."""
    if data[:4] != _MAGIC[: len(data[:4])]:
        raise _MalformedFrame("no frame marker")
    if len(data) < 8:
        return None
    (length,) = struct.unpack("<I", data[4:8])
    if length > _HEADER_MAX:
        raise _MalformedFrame(f"a header of {length} bytes")
    if len(data) < 8 + length:
        return None
    header = _checked_header(bytes(data[8 : 8 + length]))
    total = 8 + length + _pixel_bytes(header)
    if total > max_bytes:
        raise _MalformedFrame(f"a {header['width']}x{header['height']} picture")
    return header, total


def _no_constant(name: str) -> None:
    raise _MalformedFrame(f"{name} in the header")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _MalformedFrame(f"{text} in the header")
    return value


def _checked_header(raw: bytes) -> dict:
    """The header as ``_send`` writes it, or ``_MalformedFrame``: JSON without NaN/Infinity or numbers that overflow,
    no nesting deeper than the decoder's recursion limit, a known status, and for ``ok`` integer sides in range."""
    try:
        header = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # _MalformedFrame is a ValueError too
        raise _MalformedFrame(str(exc)[:200]) from None
    if not isinstance(header, dict):
        raise _MalformedFrame("a header that is not an object")
    if header.get("status") == "ok":
        for side in ("width", "height"):
            value = header.get(side)
            if type(value) is not int or not 1 <= value <= _MAX_SIDE:
                raise _MalformedFrame(f"{side} {str(value)[:40]}")
        if not isinstance(header.get("note", ""), str):
            raise _MalformedFrame("a note that is not text")
    elif header.get("status") == "error":
        if header.get("kind") not in ERROR_KINDS or not isinstance(header.get("message", ""), str):
            raise _MalformedFrame("an error of unknown kind")
        header.setdefault("message", "")
    else:
        raise _MalformedFrame("no status")
    return header


def _send(write_fd: int, header: dict, pixels: bytes | memoryview = b"") -> None:
    """Frame the result the way ``_checked_header`` accepts it: strict JSON, under ``_HEADER_MAX``."""
    head = _header_bytes(header)
    if head is None and "trace" in header:  # the picture still counts without its trace
        header = {k: v for k, v in header.items() if k != "trace"}
        header["note"] = (header.get("note") or "") + " (trace dropped: too large)"
        head = _header_bytes(header)
    if head is None:
        head = _header_bytes({"status": "error", "kind": "runtime", "message": "the result header is too large"})
        pixels = b""
    assert head is not None
    data = memoryview(_MAGIC + struct.pack("<I", len(head)) + head)
    for part in (data, memoryview(pixels).cast("B")):
        while len(part):
            written = os.write(write_fd, part)
            part = part[written:]


def _header_bytes(header: dict) -> bytes | None:
    try:
        head = json.dumps(header, allow_nan=False).encode()
    except ValueError:
        return None
    return head if len(head) <= _HEADER_MAX - 1024 else None
