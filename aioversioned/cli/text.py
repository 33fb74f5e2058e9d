"""Values as the command line reads and writes them: durations, metadata, sizes, targets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import typer

from .. import _validate

if TYPE_CHECKING:  # pydantic is imported by the commands that read documents
    from .._models import Alias, AliasChange, Artifact

# -- formatting ---------------------------------------------------------------------------


def when(item: Artifact | Alias | AliasChange) -> str:
    """An update time as shown in tables: UTC, to the second."""
    return f"{item.update_at:%Y-%m-%d %H:%M:%S}Z"


def size_text(size: int | None) -> str:
    """A size as shown in tables: ``812 B``, ``1.5 KiB``, ``3.2 GiB``; ``?`` when unknown."""
    if size is None:
        return "?"
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"


def aliases_by_version(aliases: Sequence[Alias]) -> dict[str, list[str]]:
    """Version -> the aliases pointing at it, with their share when they split."""
    found: dict[str, list[str]] = {}
    for alias in aliases:
        if alias.secondary_version is None:
            found.setdefault(alias.version, []).append(alias.alias)
            continue
        weight = alias.secondary_version_weight or 0
        found.setdefault(alias.version, []).append(f"{alias.alias} ({100 - weight}%)")
        found.setdefault(alias.secondary_version, []).append(f"{alias.alias} ({weight}%)")
    return found


def alias_target(alias: Alias) -> str:
    """``1`` or ``1 (80%), 2 (20%)``."""
    return change_target(alias.version, alias.secondary_version, alias.secondary_version_weight)


def change_target(version: str | None, secondary: str | None, weight: int | None) -> str:
    """What an alias points at; ``(absent)`` when it did not exist."""
    if version is None:
        return "(absent)"
    if secondary is None:
        return version
    weight = weight or 0
    return f"{version} ({100 - weight}%), {secondary} ({weight}%)"


# -- argument parsing -------------------------------------------------------------------

_DURATION_RE = re.compile(r"([0-9]+)([smhdw])")  # ASCII: \d takes any script's digits
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, option: str | None = None) -> int:
    """``30s``, ``15m``, ``12h``, ``90d``, ``2w`` (or ``0``) to seconds, at most 100 years.

    ``option`` (``--bake``) names the option in the usage error.
    """
    hint = None if option is None else f"'{option}'"
    if text == "0":
        return 0
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise typer.BadParameter(
            f"{text!r} is not a duration: a whole number followed by s, m, h, d or w (e.g. 90d)",
            param_hint=hint,
        )
    # Compare digit counts first: int() refuses strings of over 4,300 digits.
    limit = _validate.MAX_AGE_SECONDS
    number = int(match[1]) if len(match[1].lstrip("0")) <= len(str(limit)) else limit + 1
    seconds = number * _DURATION_UNITS[match[2]]
    if seconds > limit:
        raise typer.BadParameter(
            f"{text!r:.40} is longer than 100 years ({limit:,} seconds)", param_hint=hint
        )
    return seconds


def parse_metadata(pairs: Sequence[str]) -> dict[str, str]:
    """``["k=v", ...]`` to a dict; the library checks the keys and values themselves."""
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="'--meta'")
        if key in metadata:
            raise typer.BadParameter(f"key {key!r} given twice", param_hint="'--meta'")
        metadata[key] = value
    return metadata


_STEP_RE = re.compile(r" *[0-9]{1,9} *")  # ASCII: int() also takes any script's digits


def parse_steps(text: str) -> tuple[int, ...]:
    """``10,50,100`` to ``(10, 50, 100)``; the library checks their range and order."""
    parts = text.split(",")
    if not all(_STEP_RE.fullmatch(part) for part in parts):
        raise typer.BadParameter(
            f"{text!r} is not a comma-separated list of percentages, e.g. 10,50,100",
            param_hint="'--steps'",
        )
    return tuple(int(part) for part in parts)


def parse_content(file: str) -> Path | BinaryIO:
    """FILE to upload: a path, or ``-`` for stdin.

    A path lets the library hash, size and multipart-upload the file without holding
    it in memory; stdin is uploaded as a stream.
    """
    if file == "-":
        return typer.get_binary_stream("stdin")
    if Path(file).is_file():
        return Path(file)
    raise typer.BadParameter(f"{file!r} is not a file", param_hint="'FILE'")
