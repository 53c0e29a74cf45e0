"""Values a person types — on the command line, in a configuration string (``remix:0.3,…``), in a
dashboard link (``?lam=…``), in ``--set key=value`` — read the way a person means them.

Python's own readers are too lenient for that: ``float("0_3") == 3.0`` (underscores group
digits), ``float("nan")`` and ``float("inf")`` are numbers, ``int("٣")`` is 3, and YAML reads a
bare ``|`` as an empty block. Here a number is plain ASCII decimal notation (``-0.25``, ``3``,
``1e-4``, ``.5``), finite, and inside the range of the field it is for; everything else is refused
with a one-line message naming the field and what it takes."""
from __future__ import annotations

import argparse
import math
import re
from typing import Any

__all__ = ["NumberError", "parse_number", "number_arg", "parse_set_value", "echo"]

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class NumberError(ValueError):
    """A typed number that is not one, or outside its field's range; the message names both."""


def echo(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for quoting a person's input back in a
    message (a 400 KB link parameter is not repeated in full)."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        return repr(text[:limit]) + f"… ({len(text):,} characters)"
    return repr(text)


def parse_number(text: str, *, what: str, integer: bool = False, lo: float | None = None,
                 hi: float | None = None) -> float | int:
    """``text`` as a finite number (an integer when ``integer``) within ``[lo, hi]``.

    Raises :class:`NumberError` saying ``what`` the number is for and the range it takes."""
    raw = text.strip() if isinstance(text, str) else str(text)
    pattern = _INT if integer else _FLOAT
    kind = "a whole number" if integer else "a number"
    if not pattern.fullmatch(raw):
        if raw.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise NumberError(f"{what}: {echo(text)} is not a finite number{_range(lo, hi)}")
        hint = " (no '_' between digits)" if "_" in raw else ""
        raise NumberError(f"{what}: {echo(text)} is not {kind}{hint}{_range(lo, hi)}")
    value: float | int = int(raw) if integer else float(raw)
    if not math.isfinite(value):   # 1e999
        raise NumberError(f"{what}: {echo(text)} is not a finite number{_range(lo, hi)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise NumberError(f"{what}: {raw} is out of range{_range(lo, hi)}")
    return value


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"; give one from {lo:g} to {hi:g}"
    if lo is not None:
        return f"; give one ≥ {lo:g}"
    if hi is not None:
        return f"; give one ≤ {hi:g}"
    return ""


def number_arg(*, integer: bool = False, lo: float | None = None, hi: float | None = None, what: str = ""):
    """An ``argparse`` ``type=`` that reads through :func:`parse_number` (argparse then exits 2
    with the option's name and the message)."""
    def read(text: str):
        try:
            return parse_number(text, what=what or "value", integer=integer, lo=lo, hi=hi)
        except NumberError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None
    read.__name__ = "whole number" if integer else "number"   # argparse names the type in its message
    return read


_WORDS = {"true": True, "false": False, "null": None, "~": None}


def parse_set_value(raw: str) -> Any:
    """The value of ``--set key=value``: ``[a,b]`` a list of such values, ``true``/``false``,
    ``null``, a strict number (:func:`parse_number`'s notation), a quoted text with its quotes
    removed, and any other text as it is (so ``|``, ``;`` and ``0_3`` stay text, and a numeric
    field then refuses ``0_3`` by name)."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [parse_set_value(x) for x in _split_list(inner)] if inner else []
    if text.lower() in _WORDS:
        return _WORDS[text.lower()]
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text) and math.isfinite(float(text)):
        return float(text)
    return raw


def _split_list(inner: str) -> list[str]:
    """Split on commas outside quotes (``['a,b', c]`` is two items)."""
    items, cur, quote = [], "", None
    for ch in inner:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            cur += ch
        elif ch == ",":
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    return items
