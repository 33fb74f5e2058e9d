"""A folder that shows what a follower serves, for programs that are not written in Python.

``aioversioned follow NAME ALIAS --dir DIR`` keeps in DIR:

- ``<version><suffix>`` (``3.onnx``; ``LATEST.onnx`` for an alias on LATEST): the
  verified file of each version the alias names, and of those it named before its last
  change (a reader that opened one just before a switch finds it). A file gets its name
  only once it is complete: it is written under a hidden temporary name (a hard link to
  the follower's verified copy when both are on one filesystem, else a copy) and renamed
  into place. The name comes from the version number, decimal ASCII digits (checked
  here again, though the alias parser already refused anything else), and the suffix,
  which the user gave: nothing read from the bucket chooses a path.
- ``current<suffix>``: a relative symlink to the file of the version this host serves,
  replaced in one ``rename(2)`` (``os.replace`` of a new link onto it). A reader opening
  ``current`` gets the old file or the new one, whole, never a mix; no byte is copied to
  switch; and a relative link resolves wherever a container mounts DIR.

Only files this process placed are ever deleted; DIR itself is left as it is on exit,
so the application keeps serving ``current``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Collection
from pathlib import Path

from . import _keys
from ._models import Alias
from .errors import CorruptDocumentError, InvalidInputError

CURRENT = "current"
_MODE = 0o644  # the application may run as another user (another container)


def file_name(alias: Alias, version: str, suffix: str) -> str:
    """The name in DIR of ``version``, one that ``alias`` names: digits or LATEST, then
    the suffix."""
    try:
        stem = _keys.version_str(_keys.parse_version(version))
    except InvalidInputError as err:
        raise CorruptDocumentError(
            f"alias {alias.alias!r} of artifact {alias.name!r}",
            f"version {version!r} is not decimal ASCII digits or LATEST: {err.message}",
        ) from err
    return f"{stem}{suffix}"


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class ServedFolder:
    """DIR as ``aioversioned follow`` keeps it (see the module doc); not thread-safe:
    one follower's ``on_change`` calls come one at a time."""

    def __init__(self, folder: Path, suffix: str) -> None:
        _keys.validate_suffix(suffix)
        if os.sep in suffix or "\0" in suffix:
            raise InvalidInputError("suffix", f"{suffix!r} can not end a file name")
        self.folder = folder
        self.suffix = suffix
        self.current = folder / f"{CURRENT}{suffix}"
        self.serving: str | None = None  # the version ``current`` points to
        self._placed: dict[str, Path] = {}  # version -> the verified file it came from

    def path(self, alias: Alias, version: str) -> Path:
        """Where ``version`` (one ``alias`` names) is kept in DIR."""
        return self.folder / file_name(alias, version, self.suffix)

    def place(self, alias: Alias, version: str, source: Path) -> Path:
        """Put the verified file ``source`` of ``version`` in DIR under its name."""
        target = self.path(alias, version)
        if self._placed.get(version) == source and target.exists():
            return target  # the same verified file: already there
        temp = self.folder / f".{target.name}.part-{secrets.token_hex(8)}"
        try:
            try:
                os.link(source, temp)  # the verified bytes themselves, no copy
            except OSError:  # another filesystem, or links not allowed
                shutil.copyfile(source, temp)
            os.chmod(temp, _MODE)
            os.replace(temp, target)
        finally:
            _unlink(temp)
        self._placed[version] = source
        return target

    def switch(self, alias: Alias, version: str) -> bool:
        """Point ``current`` at ``version``'s file (placed first); whether it moved."""
        if version == self.serving and self.current.is_symlink():
            return False
        temp = self.folder / f".{self.current.name}.part-{secrets.token_hex(8)}"
        try:
            os.symlink(file_name(alias, version, self.suffix), temp)
            os.replace(temp, self.current)
        finally:
            _unlink(temp)
        self.serving = version
        return True

    def prune(self, alias: Alias, keep: Collection[str]) -> None:
        """Delete the files this folder placed for versions not in ``keep``."""
        for version in [v for v in self._placed if v not in keep]:
            _unlink(self.path(alias, version))
            del self._placed[version]
