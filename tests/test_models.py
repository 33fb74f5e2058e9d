"""Pydantic documents: alias JSON compatibility, routing, console links."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from aioversioned import (
    Alias,
    Artifact,
    ArtifactNotFoundError,
    CorruptDocumentError,
    InvalidInputError,
    StorageError,
)
from aioversioned._models import ALIAS_DOCUMENT_FIELDS, parse_alias_document

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _alias(**changes: object) -> Alias:
    fields: dict[str, object] = {
        "name": "m",
        "alias": "prod",
        "update_at": T0,
        "version": "1",
        "secondary_version": "2",
        "secondary_version_weight": 20,
        "version_s3uri": "s3://b/p/m/versions/999999_000001",
        "secondary_version_s3uri": "s3://b/p/m/versions/999998_000002",
    }
    fields.update(changes)
    return Alias.model_validate(fields)


def test_alias_document_has_exactly_the_eight_versioned_keys() -> None:
    doc = json.loads(_alias().to_document())
    assert sorted(doc) == sorted(ALIAS_DOCUMENT_FIELDS)
    assert len(doc) == 8


def test_alias_document_round_trips() -> None:
    alias = _alias()
    parsed = parse_alias_document(alias.to_document(), "k", datetime.now(timezone.utc))
    assert parsed == alias


def test_alias_document_time_is_readable_by_fromisoformat_of_python_3_9() -> None:
    """versioned 1.x parses update_at with datetime.fromisoformat, which before Python
    3.11 refuses a trailing "Z"; the document carries "+00:00" and the microseconds."""
    alias = _alias(update_at=T0.replace(microsecond=652123))
    stored = json.loads(alias.to_document())["update_at"]
    assert stored == "2026-01-02T03:04:05.652123+00:00"
    parsed = parse_alias_document(alias.to_document(), "k", T0)
    assert parsed.update_at == alias.update_at


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-01-02T03:04:05Z", T0),
        ("2026-01-02T03:04:05.5Z", T0.replace(microsecond=500000)),
        ("2026-01-02T05:04:05+02:00", T0),
        ("2026-01-02T03:04:05", T0),  # a naive time is taken as UTC
    ],
)
def test_alias_document_times_in_any_iso_form(stored: str, expected: datetime) -> None:
    body = json.loads(_alias().to_document())
    body["update_at"] = stored
    last_modified = datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert parse_alias_document(json.dumps(body).encode(), "k", last_modified).update_at == expected


def test_versioned_1x_document_with_unknown_update_at_uses_last_modified() -> None:
    body = json.dumps(
        {
            "name": "m",
            "alias": "prod",
            "version": "3",
            "update_at": "unknown",
            "secondary_version": None,
            "secondary_version_weight": None,
            "version_s3uri": "s3://b/p/m/versions/999997_000003",
            "secondary_version_s3uri": None,
        }
    ).encode()
    parsed = parse_alias_document(body, "p/m/aliases/prod.json", T0)
    assert parsed.update_at == T0
    assert parsed.version == "3"
    assert parsed.random_artifact() == "s3://b/p/m/versions/999997_000003"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"name": "m"}',
        _alias().to_document().replace(b'"version":"1"', b'"version":"0"'),
        _alias().to_document().replace(b"20", b"100"),
        _alias().to_document()[:-1] + b',"extra":1}',
    ],
)
def test_corrupt_alias_documents_name_their_key(body: bytes) -> None:
    with pytest.raises(CorruptDocumentError) as info:
        parse_alias_document(body, "p/m/aliases/prod.json", T0)
    assert info.value.key == "p/m/aliases/prod.json"
    assert "p/m/aliases/prod.json" in str(info.value)


def test_random_artifact_follows_the_weight() -> None:
    alias = _alias(secondary_version_weight=20)
    picks = [alias.random_artifact() for _ in range(20_000)]
    share = picks.count(alias.secondary_version_s3uri) / len(picks)
    assert 0.18 < share < 0.22
    zero = _alias(secondary_version_weight=0)
    assert {zero.random_artifact() for _ in range(500)} == {zero.version_s3uri}


def test_models_are_frozen_and_need_aware_times() -> None:
    alias = _alias()
    with pytest.raises(ValidationError):
        alias.version = "5"  # type: ignore[misc]  # proving the model is frozen
    with pytest.raises(ValidationError):
        _alias(update_at=datetime(2026, 1, 1))


def test_console_url() -> None:
    art = Artifact(
        name="my_application",
        version="LATEST",
        update_at=T0,
        s3uri="s3://mybucket/artifacts/my_application/versions/000000_LATEST.bin",
        sha256="0" * 64,
    )
    assert art.console_url == (
        "https://console.aws.amazon.com/s3/object/mybucket"
        "?prefix=artifacts/my_application/versions/000000_LATEST.bin"
    )


def test_errors_pickle_with_their_context() -> None:
    for err in (
        InvalidInputError("version", "must be positive"),
        ArtifactNotFoundError("m", "3"),
        CorruptDocumentError("k", "bad"),
        StorageError("PutObject", "b", "k", "500", "boom"),
    ):
        clone = pickle.loads(pickle.dumps(err))
        assert type(clone) is type(err)
        assert str(clone) == str(err)
        assert vars(clone) == vars(err)
