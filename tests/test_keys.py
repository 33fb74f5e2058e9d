"""Layout, names and versions: pure functions, no server."""

from __future__ import annotations

import pytest

from aioversioned import InvalidInputError
from aioversioned._keys import (
    KEY_BUDGET,
    MAX_KEY_BYTES,
    Layout,
    decode_stem,
    encode_stem,
    normalize_prefix,
    parse_version,
    readable_alias,
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
    assert layout.suffix_of("m", "arts/m/versions/999998_000002.zip") == ".zip"
    assert layout.suffix_of("m", "arts/m/versions/000000_LATEST") == ""
    assert layout.suffix_of("m", "arts/m/versions/000000_LATESTzip") == "zip"
    for foreign in ("arts/m/versions/999998_000003", "arts/m/versions/readme.txt", "arts/n/x"):
        assert layout.suffix_of("m", foreign) is None
    assert layout.suffix_of("m", "arts/m/versions/000000_LATEST/x") is None
    assert layout.parse_alias_key("m", "arts/m/aliases/prod.json") == "prod"
    with pytest.raises(ValueError):
        layout.parse_alias_key("m", "arts/m/aliases/LATEST.json")
    assert layout.parse_claim_key("m", layout.claim_key("m", 5)) == 5
    record = layout.published_key("m", 7, '"abc-2"', "f" * 64)
    assert record == f"arts/m/.aioversioned/published/999993_000007_abc-2_{'f' * 64}"
    assert layout.parse_published_key("m", record) == (7, "abc-2", "f" * 64)
    for foreign in (
        "arts/m/.aioversioned/published/999993_000007_x",
        "arts/m/other",
        f"arts/m/.aioversioned/published/999993_000007_abc_{'F' * 64}",
        "arts/m/.aioversioned/published/999993_000007_abc_" + "../" * 21 + "x",
    ):
        with pytest.raises(ValueError):
            layout.parse_published_key("m", foreign)


def test_tombstones() -> None:
    layout = Layout("bkt", "arts")
    token = "0123456789abcdef" * 2
    key = layout.retired_key("m", 3, token)
    assert key == f"arts/m/.aioversioned/retired/999997_000003/{token}"
    assert key.startswith(layout.retired_prefix("m", 3))
    assert layout.parse_retired_key("m", key) == 3
    for foreign in (
        f"arts/m/.aioversioned/retired/999997_000004/{token}",  # the two halves disagree
        f"arts/m/.aioversioned/retired/000000_LATEST/{token}",
        "arts/m/.aioversioned/retired/999997_000003",  # no token
        f"arts/m/.aioversioned/retired/999997_000003/{token}.bak",
        f"arts/m/.aioversioned/retired/999997_000003/{token.upper()}",
        f"arts/m/.aioversioned/retired/999997_000003/x/{token}",
        f"arts/other/.aioversioned/retired/999997_000003/{token}",
        f"other/arts/m/.aioversioned/retired/999997_000003/{token}",
    ):
        with pytest.raises(ValueError):
            layout.parse_retired_key("m", foreign)
    for number in (0, 1_000_000):
        with pytest.raises(ValueError):
            layout.retired_key("m", number, token)


def test_longest_key_covers_every_key_the_layout_builds() -> None:
    builders = {m for m in dir(Layout) if m.endswith("_key") and not m.startswith("parse_")}
    # A new kind of key must be added to Layout.longest_key_bytes, then to this list.
    assert builders == {
        "version_key",
        "alias_key",
        "alias_index_key",
        "claim_key",
        "upload_key",
        "published_key",
        "retired_key",
        "history_key",
        "scratch_key",
        "names_index_key",
    }
    layout = Layout("bkt", "p", ".zip")
    # The published record is the longest: p/m/.aioversioned/published/{13}_{40}_{64}
    record = layout.published_key("m", 1, "e" * 40, "0" * 64)
    assert layout.longest_key_bytes("m") == len(record) == 1 + 1 + 145  # prefix, name
    assert layout.longest_key_bytes("m") >= len(layout.history_key("m", "A" * 64, 1))
    assert layout.longest_key_bytes("m") >= len(layout.retired_key("m", 999_999, "0" * 32))
    assert layout.longest_key_bytes("m") >= len(layout.scratch_key("0" * 32, "created"))
    # Name-free; as long as LATEST's key of a 1-character name, which the budget covers.
    assert len(layout.names_index_key) == len(layout.version_key("m", None))


def test_a_prefix_or_suffix_too_long_for_any_name_is_refused() -> None:
    assert KEY_BUDGET == 1000 and MAX_KEY_BYTES == 1024
    assert Layout("bkt", "p" * 854).longest_key_bytes("a") == 1000  # the longest accepted
    with pytest.raises(InvalidInputError, match=r"^s3_prefix: is too long \(855 bytes"):
        Layout("bkt", "p" * 855)
    assert Layout("bkt", "é" * 427).longest_key_bytes("a") == 1000  # UTF-8 bytes, not characters
    with pytest.raises(InvalidInputError, match=r"^s3_prefix: is too long \(856 bytes"):
        Layout("bkt", "é" * 428)
    emoji = "\U0001f600" * 64  # 64 characters, 256 bytes: only the version keys carry it
    Layout("bkt", "p" * 700, emoji)
    with pytest.raises(InvalidInputError, match=r"^suffix: is too long \(256 bytes"):
        Layout("bkt", "p" * 800, emoji)
    with pytest.raises(InvalidInputError, match=r"^s3_prefix: "):
        Layout("bkt", "p" * 900, emoji)  # the prefix alone is too long


def test_check_name_refuses_a_name_whose_keys_do_not_fit() -> None:
    layout = Layout("bkt", "p" * 800)
    assert layout.check_name("m" * 55) == "m" * 55  # 800 + 55 + 145 = 1000 bytes
    with pytest.raises(InvalidInputError, match=r"^name: .*names of at most 55 characters fit"):
        layout.check_name("m" * 56)
    with pytest.raises(InvalidInputError, match=r"^source: "):
        layout.check_name("../x", "source")  # the rules of validate_name come first
    assert Layout("bkt", "arts").check_name("m" * 128) == "m" * 128


@pytest.mark.parametrize(
    "alias", ["prod", "2024_release", "prod.blue", "team/canary", "LATEST", "café", "a b", "x.."]
)
def test_readable_alias_accepts_what_versioned_stores_as_spelled(alias: str) -> None:
    assert readable_alias(alias) == alias


@pytest.mark.parametrize(
    "alias", ["", "prod-blue", "a//b", "/a", "a/", "a/../b", "./a", "x\n", "\ud800", "é" * 257, 3]
)
def test_readable_alias_refuses_the_rest(alias: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        readable_alias(alias)
    assert info.value.argument == "alias"


def test_parse_any_alias_key_names_every_document_under_aliases() -> None:
    layout = Layout("bkt", "arts", ".zip")
    assert layout.parse_any_alias_key("m", "arts/m/aliases/prod-blue.json") == "prod-blue"
    assert layout.parse_any_alias_key("m", "arts/m/aliases/team/canary.json") == "team/canary"
    assert layout.parse_any_alias_key("m", "arts/m/aliases/.json") == ""
    for foreign in ("arts/m/aliases/", "arts/m/aliases/prod.txt", "arts/n/aliases/prod.json"):
        with pytest.raises(ValueError):
            layout.parse_any_alias_key("m", foreign)
    uri = layout.s3uri(layout.version_key("m", 3))
    assert layout.parse_version_uri("m", uri) == 3
    assert layout.parse_version_uri("m", layout.s3uri(layout.version_key("m", None))) is None
    for foreign in ("s3://other/arts/m/versions/999997_000003.zip", "s3://bkt/arts/n/x", ""):
        with pytest.raises(ValueError):
            layout.parse_version_uri("m", foreign)
