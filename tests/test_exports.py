"""The public API: exactly what __all__ says, all documented."""

from __future__ import annotations

import aioversioned
import aioversioned.errors


def test_all_is_exactly_the_public_names() -> None:
    for name in aioversioned.__all__:  # the classes are imported on first use
        assert getattr(aioversioned, name) is not None
    public = {name for name in vars(aioversioned) if not name.startswith("_")}
    public -= {"cli", "errors"}  # submodules
    assert public == set(aioversioned.__all__) - {"__version__"}
    assert set(dir(aioversioned)) >= set(aioversioned.__all__)


def test_errors_tree() -> None:
    assert set(aioversioned.errors.__all__) <= set(aioversioned.__all__)
    for name in aioversioned.errors.__all__:
        cls = getattr(aioversioned, name)
        assert issubclass(cls, Warning) or issubclass(cls, aioversioned.AioVersionedError)
        assert cls.__doc__
    assert issubclass(aioversioned.BlockingCallWarning, RuntimeWarning)
    assert issubclass(aioversioned.ArtifactNotFoundError, LookupError)
    assert issubclass(aioversioned.AliasNotFoundError, LookupError)
    assert issubclass(aioversioned.InvalidInputError, ValueError)
    assert issubclass(aioversioned.CorruptDocumentError, ValueError)


def test_public_methods_are_documented() -> None:
    for cls in (aioversioned.AsyncRepository, aioversioned.Repository):
        for name in dir(cls):
            if not name.startswith("_"):
                assert getattr(cls, name).__doc__, f"{cls.__name__}.{name}"


def test_version() -> None:
    assert aioversioned.__version__.count(".") >= 2
