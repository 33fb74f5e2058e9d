"""Layout, names and versions: pure functions, no server."""

from __future__ import annotations

import pytest

from aioversioned import InvalidInputError
from aioversioned._keys import (
    Layout,
    decode_stem,
    encode_stem,
    normalize_prefix,
    parse_version,
    validate_alias,
    validate_name,
    validate_suffix,
    version_str,
)


@pytest.mark.parametrize(
    ("number", "stem"),
    [
        (None, "000000_LATEST"),
        (1, "999999_000001"),
        (2, "999998_000002"),
        (999999, "000001_999999"),
    ],
)
def test_stem_encoding_matches_versioned_1x(number: int | None, stem: str) -> None:
    assert encode_stem(number) == stem
    assert decode_stem(stem) == number


def test_stems_sort_latest_first_then_newest() -> None:
    stems = [encode_stem(n) for n in (None, 1, 2, 10, 999, 1000, 999999)]
    assert sorted(stems) == [encode_stem(n) for n in (None, 999999, 1000, 999, 10, 2, 1)]


@pytest.mark.parametrize(
    "stem", ["", "LATEST", "999999_000002", "000000_000000", "1_1", "999999_000001x"]
)
def test_foreign_stems_are_rejected(stem: str) -> None:
    with pytest.raises(ValueError):
        decode_stem(stem)


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, None), ("LATEST", None), (1, 1), ("1", 1), ("000001", 1), (999999, 999999)],
)
def test_parse_version(given: object, expected: int | None) -> None:
    assert parse_version(given) == expected


@pytest.mark.parametrize(
    "bad",
    [0, -1, 1_000_000, True, False, 1.0, "1.0", "", " 1", "latest", "-1", "\uff11", b"1", [1]],
)
def test_bad_versions_name_the_argument(bad: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_version(bad, "secondary_version")
    assert info.value.argument == "secondary_version"
    assert str(info.value).startswith("secondary_version: ")


def test_version_str() -> None:
    assert version_str(None) == "LATEST"
    assert version_str(7) == "7"


@pytest.mark.parametrize("name", ["a", "my-model", "model_v2.bin", "A" * 128, "0abc", "_x"])
def test_good_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        ".hidden",
        "-x",
        "a/b",
        "a b",
        "A" * 129,
        "a\x00",
        "é",
        "a%2Fb",
        "..%2F",
        "\uff41",  # fullwidth a
        "a\\b",
        3,
        None,
    ],
)
def test_bad_names_never_escape_the_artifact_folder(name: object) -> None:
    with pytest.raises(InvalidInputError, match=r"^name: "):
        validate_name(name)


@pytest.mark.parametrize("alias", ["prod", "p", "canary_2", "A" * 64])
def test_good_aliases(alias: str) -> None:
    assert validate_alias(alias) == alias


@pytest.mark.parametrize(
    "alias", ["LATEST", "1prod", "_prod", "prod-1", "A" * 65, "", "pröd", None]
)
def test_bad_aliases(alias: object) -> None:
    with pytest.raises(InvalidInputError, match=r"^alias: "):
        validate_alias(alias)


def test_prefix_and_suffix_rules() -> None:
    assert normalize_prefix("/a/b/") == "a/b"
    for bad in ("", "/", "a//b", "a/../b", 3):
        with pytest.raises(InvalidInputError, match=r"^s3_prefix: "):
            normalize_prefix(bad)
    assert validate_suffix(".zip") == ".zip"
    with pytest.raises(InvalidInputError, match=r"^suffix: "):
        validate_suffix("a/b")


def test_layout_keys_and_parsing() -> None:
    layout = Layout("bkt", "arts", ".zip")
    assert layout.version_key("m", None) == "arts/m/versions/000000_LATEST.zip"
    assert layout.version_key("m", 2) == "arts/m/versions/999998_000002.zip"
    assert layout.alias_key("m", "prod") == "arts/m/aliases/prod.json"
    assert layout.s3uri("arts/m/x") == "s3://bkt/arts/m/x"
    assert layout.parse_version_key("m", "arts/m/versions/999998_000002.zip") == 2
    assert layout.parse_version_key("m", "arts/m/versions/000000_LATEST.zip") is None
    for foreign in ("arts/m/versions/999998_000002", "arts/m/versions/readme.txt", "arts/n/x"):
        with pytest.raises(ValueError):
            layout.parse_version_key("m", foreign)
    assert layout.parse_alias_key("m", "arts/m/aliases/prod.json") == "prod"
    with pytest.raises(ValueError):
        layout.parse_alias_key("m", "arts/m/aliases/LATEST.json")
    assert layout.parse_claim_key("m", layout.claim_key("m", 5)) == 5
    record = layout.published_key("m", 7, '"abc-2"', "f" * 64)
    assert record == f"arts/m/.aioversioned/published/999993_000007_abc-2_{'f' * 64}"
    assert layout.parse_published_key("m", record) == (7, "abc-2", "f" * 64)
    for foreign in ("arts/m/.aioversioned/published/999993_000007_x", "arts/m/other"):
        with pytest.raises(ValueError):
            layout.parse_published_key("m", foreign)


def test_deletion_marks() -> None:
    from aioversioned._aliases import _mark_covers

    layout = Layout("bkt", "arts")
    key = layout.deleting_key("m", 3, 17, "tok")
    assert key == "arts/m/.aioversioned/deleting/000003-000017-tok"
    assert layout.parse_deleting_key("m", key) == (3, 17)
    assert _mark_covers(b"[3, 9, 17]", {9})
    assert not _mark_covers(b"[3, 9, 17]", {4, 5})
    assert _mark_covers(b"not json", {4})  # unreadable: assume the worst
    assert _mark_covers(b'{"a": 1}', {4})
