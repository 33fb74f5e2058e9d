"""Documents another writer can put in the bucket (issue 21, part D).

Each test writes a hostile object with the repository's own S3 client, then calls the
public API: every bad document gives a typed error naming its key (or is treated by a
stated rule), never a raw Python error, and is never read whole when it is too large.
The property tests (hypothesis) run the same parsers on generated input, without a server.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import anyio
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from typer.testing import CliRunner

from aioversioned import (
    Alias,
    ArtifactNotFoundError,
    AsyncRepository,
    CorruptDocumentError,
    Repository,
    VersionConflictError,
    VersionInUseError,
)
from aioversioned._documents import ALIAS_LIMIT, INDEX_LIMIT
from aioversioned._keys import MAX_SEQUENCE, Layout, decode_stem
from aioversioned._models import parse_alias_document
from aioversioned._s3 import S3, server_time
from aioversioned.cli import app
from aioversioned.cli.text import parse_steps
from tests.s3log import RequestLog

HANG = 20.0
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
FAST = 0.05
ONE, TWO, THREE = b"content one", b"content two", b"content three"
# The property tests: few examples, no example database (tests write only in temp dirs).
QUICK = settings(max_examples=60, deadline=None, database=None)


@pytest.fixture(autouse=True, scope="module")
def _hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis's caches in a temporary folder, not ``.hypothesis`` in the repository."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def publish(repo: AsyncRepository, *contents: bytes) -> None:
    for content in contents:
        await repo.put_artifact("m", content)
        await repo.publish_artifact_version("m")


def document(repo: AsyncRepository, number: str = "1", **fields: Any) -> bytes:
    """An alias document as ``versioned`` 1.x writes it, with ``fields`` replaced."""
    uri = repo.layout.s3uri(repo.layout.version_key("m", int(number)))
    doc = {
        "name": "m",
        "alias": "prod",
        "update_at": "2026-01-01T00:00:00+00:00",
        "version": number,
        "secondary_version": None,
        "secondary_version_weight": None,
        "version_s3uri": uri,
        "secondary_version_s3uri": None,
        **fields,
    }
    return json.dumps(doc).encode()


BEFORE_YEAR_ONE = "0001-01-01T00:00:00+01:00"  # no UTC form: astimezone overflows


async def until(predicate: Callable[[], bool]) -> None:
    with anyio.fail_after(HANG):
        while not predicate():  # noqa: ASYNC110  # state moved by a server: polled
            await anyio.sleep(0.01)


# -- 1. an alias document whose update_at has no UTC form -----------------------------


async def test_an_update_at_out_of_range_is_a_corrupt_document_for_readers(
    repo: AsyncRepository,
) -> None:
    await publish(repo, ONE, TWO)
    key = repo.layout.alias_key("m", "prod")
    await repo._s3.put(key, document(repo, update_at=BEFORE_YEAR_ONE))
    with pytest.raises(CorruptDocumentError) as caught:
        await repo.get_alias("m", "prod")
    assert caught.value.key == key and "out of range" in caught.value.detail
    assert caught.value.revision == (await repo._s3.head(key)).etag.strip('"')  # type: ignore[union-attr]
    with pytest.raises(CorruptDocumentError, match=r"prod\.json"):
        await repo.list_aliases("m")
    with pytest.raises(CorruptDocumentError, match=r"prod\.json"):  # fails closed
        await repo.purge_artifact_versions("m", keep_last_n=0, purge_older_than_secs=0)
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "2", "1"]


async def test_put_alias_replaces_a_corrupt_document_and_records_it(
    repo: AsyncRepository,
) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    key = repo.layout.alias_key("m", "prod")
    await repo._s3.put(key, document(repo, update_at=BEFORE_YEAR_ONE))
    with pytest.raises(CorruptDocumentError) as caught:
        await repo.get_alias("m", "prod")
    bad = caught.value.revision
    # A compare-and-swap names the bad document by the revision its error carries.
    with pytest.raises(VersionConflictError):
        await repo.put_alias("m", "prod", 2, expected_revision="0" * 32)
    moved = await repo.put_alias("m", "prod", 2, expected_revision=bad)
    assert (await repo.get_alias("m", "prod")).revision == moved.revision
    history = await repo.list_alias_history("m", "prod")
    # The corrupt document is a change without a target, with its revision.
    assert [(c.sequence, c.version, c.revision) for c in history] == [
        (3, "2", moved.revision),
        (2, None, bad),
        (1, "1", history[2].revision),
    ]
    # Last writer wins over a corrupt document too, and a rollback goes past it.
    await repo._s3.put(key, b"{not json")
    assert (await repo.put_alias("m", "prod", 1)).version == "1"
    await repo._s3.put(key, b"{not json")
    assert (await repo.rollback_alias("m", "prod")).version == "1"  # the last readable one
    await repo._s3.put(key, b"{not json")
    await repo.delete_alias("m", "prod")
    assert await repo.list_aliases("m") == []


async def test_an_async_follower_outlives_a_corrupt_alias(repo: AsyncRepository) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    key = repo.layout.alias_key("m", "prod")
    with anyio.fail_after(HANG):
        async with repo.follow_alias("m", "prod", interval=FAST) as follower:
            await repo._s3.put(key, document(repo, "2", update_at=BEFORE_YEAR_ONE))
            await until(lambda: isinstance(follower.error, CorruptDocumentError))
            assert follower.alias.version == "1"
            assert follower.path(1).read_bytes() == ONE
            await repo.put_alias("m", "prod", 2)  # over the corrupt document
            await until(lambda: follower.alias.version == "2")
            assert follower.error is None
            assert follower.path(2).read_bytes() == TWO


def test_a_blocking_follower_outlives_a_corrupt_alias(sync_repo: Repository) -> None:
    for content in (ONE, TWO):
        sync_repo.put_artifact("m", content)
        sync_repo.publish_artifact_version("m")
    sync_repo.put_alias("m", "prod", 1)
    key = sync_repo._arepo.layout.alias_key("m", "prod")
    bad = document(sync_repo._arepo, "2", update_at=BEFORE_YEAR_ONE)
    with sync_repo.follow_alias("m", "prod", interval=FAST) as follower:
        sync_repo._call(sync_repo._arepo._s3.put, key, bad)
        deadline = time.monotonic() + HANG
        while not isinstance(follower.error, CorruptDocumentError):
            assert time.monotonic() < deadline, "the follower never reported the document"
            time.sleep(0.01)
        assert follower.alias.version == "1"
        assert follower.path(1).read_bytes() == ONE
        sync_repo.put_alias("m", "prod", 2)
        while follower.alias.version != "2":
            assert time.monotonic() < deadline, "the follower stopped following"
            time.sleep(0.01)
        assert follower.error is None
    assert not [t for t in threading.enumerate() if t.name == "aioversioned-follower"]


# -- 2. a forged alias index -------------------------------------------------------------

FORGED_INDEXES = [
    b'{"format": 1, "documents": {"prod.json": ["\\ud800", "x"]}}',  # a lone surrogate
    b"[" * 100_000,  # nested deeper than any parser's stack
]


@pytest.mark.parametrize("forged", FORGED_INDEXES, ids=["surrogate", "nested"])
async def test_a_forged_alias_index_is_rebuilt(repo: AsyncRepository, forged: bytes) -> None:
    await publish(repo, ONE, TWO, THREE)
    await repo.put_alias("m", "prod", 2)
    index = repo.layout.alias_index_key("m")
    await repo._s3.put(index, forged)
    assert [(a.alias, a.version) for a in await repo.list_aliases("m")] == [("prod", "2")]
    stored = json.loads((await repo._s3.get(index, limit=None))[0])  # type: ignore[index]
    assert list(stored["documents"]) == ["prod.json"]  # rewritten: the next lister reads it
    await repo._s3.put(index, forged)
    with pytest.raises(VersionInUseError):
        await repo.delete_artifact_version("m", 2)
    assert await repo.delete_artifact_version("m", 1) == ()
    await repo._s3.put(index, forged)
    _, purged = await repo.purge_artifact_versions("m", keep_last_n=0, purge_older_than_secs=0)
    assert [a.version for a in purged] == ["3"]


# -- 3. a deletion mark nested too deep: tombstones have no body to parse -------------------


async def test_a_tombstone_is_never_read_whatever_its_bytes(repo: AsyncRepository) -> None:
    """Deletion marks (JSON read by alias writes) gave way to tombstones, whose presence
    alone says a version is deleted: another writer's bytes there are never parsed."""
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    await repo._s3.put(repo.layout.retired_key("m", 2, "0" * 32), b"[" * 100_000)
    with pytest.raises(ArtifactNotFoundError):
        await repo.put_alias("m", "prod", 2)  # refused before anything is written
    assert [c.version for c in await repo.list_alias_history("m", "prod")] == ["1"]
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "1"]
    assert (await repo.put_alias("m", "prod", 1)).version == "1"


# -- 4. documents too large to read ----------------------------------------------------

OVERSIZED = ALIAS_LIMIT + (3 << 20)


class CountingBody:
    """A GET's body that counts what was read from it, in its own slot of ``reads``."""

    def __init__(self, body: Any, reads: list[int]) -> None:
        self._body = body
        self._reads = reads
        self._slot = len(reads)
        reads.append(0)

    async def __aenter__(self) -> CountingBody:
        await self._body.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._body.__aexit__(*exc)

    async def read(self, size: int = -1) -> bytes:
        piece: bytes = await self._body.read(size)
        self._reads[self._slot] += len(piece)
        return piece


def count_reads(s3: S3, monkeypatch: pytest.MonkeyPatch, *, hide_length: bool) -> list[int]:
    """The body bytes each GET reads, one entry per GET; ``hide_length``: as if the
    server sent no Content-Length (the limit must then hold while reading)."""
    reads: list[int] = []
    get_object = s3._client.get_object

    async def counted(**kwargs: Any) -> Any:
        resp = await get_object(**kwargs)
        resp["Body"] = CountingBody(resp["Body"], reads)
        if hide_length:
            resp.pop("ContentLength", None)
        return resp

    monkeypatch.setattr(s3._client, "get_object", counted)
    return reads


@pytest.mark.parametrize("hide_length", [False, True], ids=["announced", "while-reading"])
async def test_an_oversized_alias_document_is_refused_unread(
    repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch, hide_length: bool
) -> None:
    await publish(repo, ONE)
    key = repo.layout.alias_key("m", "prod")
    await repo._s3.put(key, b" " * OVERSIZED)
    reads = count_reads(repo._s3, monkeypatch, hide_length=hide_length)
    limit = f"{ALIAS_LIMIT:,}"
    with pytest.raises(CorruptDocumentError, match=limit) as caught:
        await repo.get_alias("m", "prod")
    assert caught.value.key == key
    with pytest.raises(CorruptDocumentError, match=limit):
        await repo.get_alias("m", "prod", max_age=60)
    with pytest.raises(CorruptDocumentError, match=limit):
        await repo.list_aliases("m")
    with pytest.raises(CorruptDocumentError, match=limit):
        async with repo.follow_alias("m", "prod", interval=FAST):
            pass
    assert len(reads) == 4
    # Stopped at the limit, never the 4 MiB; nothing read at all when the size was told.
    assert max(reads) <= ALIAS_LIMIT + 1 if hide_length else max(reads) == 0
    # A writer still replaces it (its ETag is known without its body).
    assert (await repo.put_alias("m", "prod", 1)).version == "1"
    assert [c.version for c in await repo.list_alias_history("m", "prod")] == ["1", None]


async def test_a_watch_outlives_an_oversized_alias_document(
    repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    key = repo.layout.alias_key("m", "prod")
    with anyio.fail_after(HANG):
        async with repo.follow_alias("m", "prod", interval=FAST) as follower:
            reads = count_reads(repo._s3, monkeypatch, hide_length=True)
            await repo._s3.put(key, b" " * OVERSIZED)
            await until(lambda: isinstance(follower.error, CorruptDocumentError))
            assert f"{ALIAS_LIMIT:,}" in str(follower.error)
            assert max(reads) <= ALIAS_LIMIT + 1  # no poll read it whole
            assert follower.alias.version == "1"


async def test_an_oversized_history_record_is_refused_unread(
    repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    await repo.put_alias("m", "prod", 2)
    record = repo.layout.history_key("m", "prod", 1)
    await repo._s3.put(record, b" " * OVERSIZED)
    reads = count_reads(repo._s3, monkeypatch, hide_length=True)
    with pytest.raises(CorruptDocumentError, match=record):
        await repo.list_alias_history("m", "prod")
    assert max(reads) <= ALIAS_LIMIT + 1


async def test_an_oversized_alias_index_is_not_read_and_is_replaced(
    repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish(repo, ONE)
    await repo.put_alias("m", "prod", 1)
    index = repo.layout.alias_index_key("m")
    await repo._s3.put(index, b" " * (INDEX_LIMIT + 1))
    reads = count_reads(repo._s3, monkeypatch, hide_length=False)
    assert [a.version for a in await repo.list_aliases("m")] == ["1"]
    assert max(reads) < 1 << 10  # the alias document, not the index
    stored = json.loads((await repo._s3.get(index, limit=None))[0])  # type: ignore[index]
    assert list(stored["documents"]) == ["prod.json"]


# -- 5. digits of other scripts in keys --------------------------------------------------

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


async def test_a_version_key_in_other_digits_is_foreign(repo: AsyncRepository) -> None:
    await publish(repo, ONE)
    await repo.put_artifact("m", TWO)
    foreign = repo.layout.version_key("m", 2).translate(ARABIC_INDIC)
    assert foreign != repo.layout.version_key("m", 2)
    await repo._s3.put(foreign, THREE)
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "1"]
    assert (await repo.publish_artifact_version("m")).version == "2"
    assert await repo.get_artifact_content("m", 2) == TWO
    assert await repo._s3.head(foreign) is not None  # not ours: left alone


# The zero of every other script's decimal digits (its nine others follow it).
OTHER_ZEROS = st.sampled_from(
    [chr(c) for c in range(0x80, 0x110000) if unicodedata.decimal(chr(c), None) == 0]
)


@QUICK
@given(st.integers(1, 999_999), OTHER_ZEROS)
def test_keys_in_other_digits_are_foreign(number: int, zero: str) -> None:
    layout = Layout("b", "p")
    other = str.maketrans("0123456789", "".join(chr(ord(zero) + d) for d in range(10)))
    parsers: list[tuple[Callable[[str], object], str]] = [
        (lambda k: layout.parse_version_key("m", k), layout.version_key("m", number)),
        (lambda k: layout.parse_claim_key("m", k), layout.claim_key("m", number)),
        (lambda k: layout.parse_retired_key("m", k), layout.retired_key("m", number, "a" * 32)),
        (lambda k: layout.parse_history_key("m", "a", k), layout.history_key("m", "a", number)),
        (lambda k: decode_stem(k), layout.version_key("m", number).rsplit("/", 1)[1]),
    ]
    for parse, key in parsers:
        parse(key)  # ours
        stem = re.search(r"\d{6}_\d{6}|\d{12}", key)  # the number's part of the key
        assert stem is not None
        with pytest.raises(ValueError):
            parse(key.replace(stem[0], stem[0].translate(other)))


# -- 6. a history key past the numbers the library writes -----------------------------


async def test_a_history_key_out_of_range_does_not_block_writes(repo: AsyncRepository) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    foreign = f"{repo.layout.history_dir('m', 'prod')}{1:012d}"  # 999,999,999,999
    await repo._s3.put(foreign, b"{}")
    assert (await repo.put_alias("m", "prod", 2)).version == "2"
    assert [c.sequence for c in await repo.list_alias_history("m", "prod")] == [2, 1]


async def test_a_history_at_its_last_number_refuses_before_writing(
    repo: AsyncRepository,
) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    last = repo.layout.history_key("m", "prod", MAX_SEQUENCE)
    record = {"name": "m", "alias": "prod", "sequence": MAX_SEQUENCE, "version": "2"}
    await repo._s3.put(last, json.dumps({**record, "update_at": EPOCH.isoformat()}).encode())
    with pytest.raises(CorruptDocumentError) as caught:
        await repo.put_alias("m", "prod", 2)
    assert caught.value.key == last
    assert (await repo.get_alias("m", "prod")).version == "1"  # nothing was written


# -- 7. versions with leading zeros --------------------------------------------------------


async def test_a_version_with_leading_zeros_is_read_canonical(repo: AsyncRepository) -> None:
    await publish(repo, ONE, TWO, THREE)
    key = repo.layout.alias_key("m", "prod")
    await repo._s3.put(key, document(repo, "3", version="03"))
    assert (await repo.get_alias("m", "prod")).version == "3"
    loaded: dict[str, bytes] = {}

    def load(old: Alias | None, new: Alias) -> None:  # README's on_change pattern
        for v in (new.version, new.secondary_version):
            if v:
                loaded[v] = follower.path(v).read_bytes()

    with anyio.fail_after(HANG):
        async with (follower := repo.follow_alias("m", "prod", interval=FAST, on_change=load)):
            assert loaded == {"3": THREE}
            assert follower.path(3) == follower.path("3") == follower.path("03")
            assert follower.pick().version == "3"


@QUICK
@given(st.integers(1, 999_999), st.integers(0, 6))
def test_stored_versions_are_canonical(number: int, zeros: int) -> None:
    padded = "0" * zeros + str(number)
    body = json.dumps(
        {
            "name": "m",
            "alias": "a",
            "update_at": "unknown",
            "version": padded,
            "secondary_version": padded,
            "secondary_version_weight": 5,
            "version_s3uri": "s3://b/k",
            "secondary_version_s3uri": "s3://b/k",
        }
    ).encode()
    alias = parse_alias_document(body, "k", EPOCH)
    assert alias.version == alias.secondary_version == str(number)


# -- the parsers on anything ---------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
FIELDS = (
    "name",
    "alias",
    "update_at",
    "version",
    "secondary_version",
    "secondary_version_weight",
    "version_s3uri",
    "secondary_version_s3uri",
)


@QUICK
@given(st.sampled_from(FIELDS), JSON | st.datetimes(timezones=st.timezones()).map(str))
def test_an_alias_document_parses_or_is_corrupt(field: str, value: object) -> None:
    doc = json.loads(
        b'{"name":"m","alias":"a","update_at":"unknown","version":"1",'
        b'"secondary_version":null,"secondary_version_weight":null,'
        b'"version_s3uri":"s3://b/k","secondary_version_s3uri":null}'
    )
    doc[field] = value
    try:
        alias = parse_alias_document(json.dumps(doc).encode(), "k", EPOCH, "r")
    except CorruptDocumentError as err:
        assert (err.key, err.revision) == ("k", "r")
        return
    assert alias.update_at.utcoffset() is not None


@QUICK
@given(
    st.datetimes(timezones=st.timezones())
    | st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"])
)
def test_any_timestamp_parses_or_is_corrupt(when: Any) -> None:
    stamp = when if isinstance(when, str) else when.isoformat()
    body = json.dumps(
        {
            "name": "m",
            "alias": "a",
            "update_at": stamp,
            "version": "1",
            "secondary_version": None,
            "secondary_version_weight": None,
            "version_s3uri": "s3://b/k",
            "secondary_version_s3uri": None,
        }
    ).encode()
    try:
        alias = parse_alias_document(body, "k", EPOCH)
    except CorruptDocumentError as err:
        assert "out of range" in err.detail
        return
    assert alias.update_at.tzinfo is not None


def test_a_date_header_without_a_utc_form_is_no_server_time() -> None:
    headers = {"date": "Fri, 31 Dec 9999 23:30:00 -0100"}  # past year 9999 in UTC
    assert server_time({"ResponseMetadata": {"HTTPHeaders": headers}}) is None


# -- 8. values from the bucket on a terminal ---------------------------------------------

TERMINAL = {"TTY_COMPATIBLE": "1", "NO_COLOR": "1", "COLUMNS": "160"}


@pytest.mark.parametrize("alias", ["[/]", "[bold]x", "a[/b]"])
def test_the_cli_prints_names_from_the_bucket_as_text(
    sync_repo: Repository, endpoint_url: str, bucket: str, alias: str
) -> None:
    sync_repo.put_artifact("m", ONE)
    sync_repo.publish_artifact_version("m")
    layout = sync_repo._arepo.layout
    uri = layout.s3uri(layout.version_key("m", 1))
    body = json.dumps(
        {
            "name": "m",
            "alias": alias,
            "update_at": "unknown",
            "version": "1",
            "secondary_version": None,
            "secondary_version_weight": None,
            "version_s3uri": uri,
            "secondary_version_s3uri": None,
        }
    ).encode()
    sync_repo._call(sync_repo._arepo._s3.put, layout.alias_key("m", alias), body)
    connection = ("--bucket", bucket, "--endpoint-url", endpoint_url)
    runner = CliRunner()
    listed = runner.invoke(app, ["alias", "ls", "m", *connection], env=TERMINAL)
    assert listed.exit_code == 0, (listed.stdout, listed.stderr, listed.exception)
    assert alias in listed.stdout
    shown = runner.invoke(app, ["ls", "m", *connection], env=TERMINAL)
    assert shown.exit_code == 0, (shown.stdout, shown.stderr, shown.exception)
    assert alias in shown.stdout


def test_cli_steps_take_ascii_digits_only() -> None:
    assert parse_steps("10, 50,100") == (10, 50, 100)
    for text in ("10,100".translate(ARABIC_INDIC), "10,1_0", "+10", "10,"):
        with pytest.raises(typer.BadParameter):
            parse_steps(text)


# -- 9. a LATEST whose bytes are not the sha256 its metadata claims ----------------------


async def test_latest_metadata_is_not_trusted_over_its_bytes(any_repo: AsyncRepository) -> None:
    repo = any_repo
    await repo.put_artifact("m", ONE)
    key = repo.layout.version_key("m", None)
    claimed = {"artifact_name": "m", "artifact_sha256": sha256(ONE)}
    await repo._s3.put(key, TWO, metadata=claimed)  # another tool: other bytes, ONE's claim
    again = await repo.put_artifact("m", ONE)
    assert not again.unchanged  # written again: LATEST holds ONE now
    assert await repo.get_artifact_content("m") == ONE
    await repo._s3.put(key, TWO, metadata=claimed)
    version = await repo.publish_artifact_version("m")
    # The publish hashed what it froze: the version carries TWO's sha256 and verifies.
    assert version.sha256 == sha256(TWO)
    assert await repo.get_artifact_content("m", version.version) == TWO


async def test_the_same_bytes_again_cost_no_upload(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", ONE)
    log = RequestLog(repo)
    assert (await repo.put_artifact("m", ONE)).unchanged
    assert sorted(log.sent) == ["HeadObject", "ListObjectsV2"]  # LATEST and its records
    log.clear()
    published = await repo.publish_artifact_version("m")
    assert "GetObject" not in log.sent  # its sha256 is recorded: nothing streamed
    assert published.sha256 == sha256(ONE)


def test_a_blocking_follower_that_stopped_says_so(
    sync_repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its helper thread's failure is its ``error`` at once, not only at ``close()``."""
    sync_repo.put_artifact("m", ONE)
    sync_repo.publish_artifact_version("m")
    sync_repo.put_alias("m", "prod", 1)
    follower = sync_repo.follow_alias("m", "prod", interval=FAST)
    with follower:

        async def broken() -> None:
            raise RuntimeError("a bug in a poll")

        monkeypatch.setattr(follower._follower._watch, "poll_when_due", broken)
        deadline = time.monotonic() + HANG
        while not isinstance(follower.error, RuntimeError):
            assert time.monotonic() < deadline, "the follower's failure was never shown"
            time.sleep(0.01)
        with pytest.raises(RuntimeError, match="a bug in a poll"):
            follower.close()
