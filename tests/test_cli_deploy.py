"""The CLI's read-back and deploy verbs: show, url, alias rollback, rm --all, dangling aliases."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from aioversioned import Artifact, Repository
from aioversioned.cli.artifacts import on_aws
from aioversioned.cli.text import size_text
from tests.test_cli import Invoke, cli, failed, ok, put, raw, repo, sha

__all__ = ["cli", "raw", "repo"]  # fixtures, used by name


def publish(cli: Invoke, tmp_path: Path, name: str, content: bytes, *extra: str) -> str:
    put(cli, tmp_path, name, content, *extra)
    return ok(cli("publish", name, "-q")).stdout.strip()


# -- show -----------------------------------------------------------------------------------


def test_show_reads_back_what_put_wrote(cli: Invoke, tmp_path: Path) -> None:
    publish(cli, tmp_path, "m", b"weights", "--meta", "commit=a1b2c3", "--meta", "run=7")
    publish(cli, tmp_path, "m", b"weights two", "--content-type", "application/x-onnx")
    ok(cli("alias", "set", "m", "prod", "1", "--canary", "2", "--weight", "10"))
    ok(cli("alias", "set", "m", "staging", "1"))

    lines = ok(cli("show", "m", "1")).stdout.splitlines()
    fields = {line[:13].strip(): line[13:] for line in lines}
    assert fields == {
        "name": "m",
        "version": "1",
        "size": "7 bytes",
        "content type": "application/octet-stream",
        "updated": fields["updated"],
        "sha256": sha(b"weights"),
        "metadata": "commit=a1b2c3, run=7",
        "aliases": "prod (90%), staging",
        "s3 uri": fields["s3 uri"],
    }
    assert fields["s3 uri"].endswith("/m/versions/999999_000001")
    assert "console" not in fields  # not AWS's endpoint

    data = json.loads(ok(cli("show", "m", "--alias", "staging", "--json")).stdout)
    assert data["version"] == "1" and data["metadata"] == {"commit": "a1b2c3", "run": "7"}
    assert (data["aliases"], data["console_url"]) == (["prod", "staging"], None)
    assert set(data) == set(Artifact.model_fields) | {"aliases", "console_url"}

    latest = json.loads(ok(cli("show", "m", "--json")).stdout)
    assert (latest["version"], latest["size"], latest["content_type"]) == (
        "LATEST",
        11,
        "application/x-onnx",
    )
    assert latest["metadata"] == {} and latest["aliases"] == []
    assert ok(cli("show", "m", "2", "-q")).stdout == sha(b"weights two") + "\n"


def test_show_failures_are_one_line(cli: Invoke, tmp_path: Path) -> None:
    publish(cli, tmp_path, "m", b"x")
    failed(cli("show", "m", "9"), 1, "artifact 'm' version 9 not found")
    failed(cli("show", "m", "--alias", "prod"), 1, "alias 'prod' of artifact 'm' not found")
    failed(cli("show", "m", "1", "--alias", "prod"), 2, "VERSION or --alias")
    failed(cli("show", "nosuch"), 1, "artifact 'nosuch' not found")


def test_console_link_only_on_aws() -> None:
    assert on_aws("https://s3.eu-west-1.amazonaws.com")
    assert on_aws("https://s3.amazonaws.com")
    assert not on_aws("http://127.0.0.1:9000")
    assert not on_aws("https://amazonaws.com.evil.example")


@pytest.mark.parametrize(
    ("size", "text"),
    [(None, "?"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 << 30, "5.0 GiB")],
)
def test_size_text(size: int | None, text: str) -> None:
    assert size_text(size) == text


# -- url ------------------------------------------------------------------------------------


def test_url_downloads_without_credentials(cli: Invoke, tmp_path: Path) -> None:
    publish(cli, tmp_path, "m", b"one")
    publish(cli, tmp_path, "m", b"two")
    ok(cli("alias", "set", "m", "prod", "1"))
    for args, content in ((["1"], b"one"), (["--alias", "prod"], b"one"), ([], b"two")):
        link = ok(cli("url", "m", *args)).stdout.strip()
        with urllib.request.urlopen(link, timeout=30) as response:
            assert response.read() == content
    data = json.loads(ok(cli("url", "m", "2", "--expires", "7d", "--json")).stdout)
    assert data["expires_in"] == 7 * 86_400 and "X-Amz-Expires=604800" in data["url"]


def test_url_refusals(cli: Invoke, tmp_path: Path) -> None:
    publish(cli, tmp_path, "m", b"one")
    failed(cli("url", "m", "--expires", "8d"), 2, "--expires", "7d")
    failed(cli("url", "m", "--expires", "0"), 2, "--expires")
    failed(cli("url", "m", "--expires", "soon"), 2, "not a duration")
    failed(cli("url", "m", "1", "--alias", "prod"), 2, "VERSION or --alias")
    failed(cli("url", "m", "5"), 1, "version 5 not found")


# -- alias rollback -------------------------------------------------------------------------


def test_alias_rollback_goes_further_back(cli: Invoke, tmp_path: Path, repo: Repository) -> None:
    for content in (b"1", b"2", b"3"):
        version = publish(cli, tmp_path, "m", content)
        ok(cli("alias", "set", "m", "prod", version))
    out = ok(cli("alias", "rollback", "m", "prod")).stdout
    assert out.startswith("m prod rolled back to 2 (revision ")
    data = json.loads(ok(cli("alias", "rollback", "m", "prod", "--json")).stdout)
    assert data["version"] == "1"
    assert repo.get_alias("m", "prod").revision == data["revision"]
    failed(cli("alias", "rollback", "m", "prod"), 1, "no earlier target")
    failed(cli("alias", "rollback", "m", "staging"), 1, "alias 'staging' of artifact 'm' not found")
    assert repo.get_alias("m", "prod").version == "1"


def test_alias_rollback_after_a_rollout_is_one_call(
    cli: Invoke, tmp_path: Path, repo: Repository
) -> None:
    """Issue 22: after a 10/50/100 rollout, one rollback is back at the old version
    alone, and alias history says which change it restored; --one-step goes one back."""
    for content in (b"1", b"2", b"3"):
        publish(cli, tmp_path, "m", content)
    ok(cli("alias", "set", "m", "prod", "2"))
    ok(cli("rollout", "m", "prod", "3", "--steps", "10,50,100", "--bake", "0"))
    out = ok(cli("alias", "rollback", "m", "prod")).stdout
    assert out.startswith("m prod rolled back to 2 (revision "), out
    lines = ok(cli("alias", "history", "m", "prod")).stdout.splitlines()
    assert lines[0] == "change\tupdated\tfrom\tto\tnote\trevision"
    rows = [line.split("\t") for line in lines[1:]]
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [
        ("5", "3", "2", "rollback to 1"),
        ("4", "2 (50%), 3 (50%)", "3", ""),
        ("3", "2 (90%), 3 (10%)", "2 (50%), 3 (50%)", ""),
        ("2", "2", "2 (90%), 3 (10%)", ""),
        ("1", "(absent)", "2", ""),
    ]
    assert json.loads(ok(cli("alias", "history", "m", "prod", "--json")).stdout)[0]["restores"] == 1
    failed(cli("alias", "rollback", "m", "prod"), 1, "no earlier target in its history")
    # --one-step after another rollout: back one change, to the split.
    ok(cli("rollout", "m", "prod", "3", "--steps", "10,50,100", "--bake", "0"))
    out = ok(cli("alias", "rollback", "m", "prod", "--one-step")).stdout
    assert out.startswith("m prod rolled back to 2 (50%), 3 (50%) (revision "), out
    assert ok(cli("alias", "rollback", "m", "prod")).stdout.startswith("m prod rolled back to 2 (")
    assert repo.get_alias("m", "prod").secondary_version is None


def test_alias_rollback_with_only_splits_behind_says_one_step(
    cli: Invoke, tmp_path: Path, repo: Repository
) -> None:
    for content in (b"1", b"2"):
        publish(cli, tmp_path, "m", content)
    ok(cli("alias", "set", "m", "prod", "1", "--canary", "2", "--weight", "10"))
    ok(cli("alias", "set", "m", "prod", "2"))
    failed(cli("alias", "rollback", "m", "prod"), 1, "no earlier target without a secondary")
    assert repo.get_alias("m", "prod").secondary_version is None
    ok(cli("alias", "rollback", "m", "prod", "--one-step"))
    assert repo.get_alias("m", "prod").secondary_version == "2"


# -- rm --all and dangling aliases ----------------------------------------------------------


def test_rm_all_asks_first(cli: Invoke, tmp_path: Path, repo: Repository) -> None:
    publish(cli, tmp_path, "m", b"one")
    publish(cli, tmp_path, "keep", b"other")
    ok(cli("alias", "set", "m", "prod", "1"))

    refused = cli("rm", "m", "--all", input="n\n")
    assert refused.exit_code == 1
    assert "LATEST and 1 version(s), alias(es) prod" in refused.stderr
    assert repo.get_artifact_version("m", 1).version == "1"
    assert cli("rm", "m", "--all").exit_code == 1  # no answer: nothing deleted
    assert repo.list_artifact_names() == ["keep", "m"]

    out = ok(cli("rm", "m", "--all", input="y\n")).stdout
    assert "deleted m: LATEST and 1 version(s), alias(es) prod" in out
    assert repo.list_artifact_names() == ["keep"]
    assert repo.list_aliases("m") == []

    publish(cli, tmp_path, "m", b"again")
    ok(cli("rm", "m", "--all", "--yes"))
    assert repo.list_artifact_names() == ["keep"]
    failed(cli("rm", "m", "--all", "--yes"), 1, "artifact 'm' not found")
    ok(cli("rm", "m", "--all", "--yes", "--missing-ok"))
    failed(cli("rm", "keep", "1", "--all"), 2, "--all")
    failed(cli("rm", "keep"), 2, "VERSION", "--all")


def test_forced_rm_names_the_dangling_aliases(
    cli: Invoke, tmp_path: Path, repo: Repository
) -> None:
    publish(cli, tmp_path, "m", b"one")
    publish(cli, tmp_path, "m", b"two")
    ok(cli("alias", "set", "m", "prod", "1"))
    ok(cli("alias", "set", "m", "beta", "2", "--canary", "1", "--weight", "5"))
    failed(cli("rm", "m", "1"), 1, "in use by aliases: beta, prod")
    done = ok(cli("rm", "m", "1", "--force"))
    assert done.stdout == "deleted m version 1\n"
    assert "alias beta, prod of m now point(s) at the deleted version 1" in done.stderr

    lines = ok(cli("alias", "ls", "m")).stdout.splitlines()
    rows = {line.split("\t")[0]: line.split("\t")[1] for line in lines[1:]}
    assert rows == {"beta": "2 (95%), 1 (missing) (5%)", "prod": "1 (missing)"}
    data = json.loads(ok(cli("alias", "ls", "m", "--json")).stdout)
    assert {a["alias"]: a["missing_versions"] for a in data} == {"beta": ["1"], "prod": ["1"]}

    failed(
        cli("get", "m", "--alias", "prod"),
        1,
        "artifact 'm' version 1, which alias 'prod' points at, not found",
    )
    failed(
        cli("get", "m", "--alias", "prod", "-o", str(tmp_path / "out")),
        1,
        "which alias 'prod' points at",
    )
    assert not (tmp_path / "out").exists()


def test_rm_json(cli: Invoke, tmp_path: Path) -> None:
    publish(cli, tmp_path, "m", b"one")
    publish(cli, tmp_path, "m", b"two")
    ok(cli("alias", "set", "m", "prod", "1"))
    forced = json.loads(ok(cli("rm", "m", "1", "--force", "--json")).stdout)
    assert forced == {"name": "m", "version": "1", "deleted": True, "dangling_aliases": ["prod"]}
    everything = json.loads(ok(cli("rm", "m", "--all", "--yes", "--json")).stdout)
    assert everything == {
        "name": "m",
        "deleted": True,
        "versions": ["LATEST", "2"],
        "aliases": ["prod"],
    }
    gone = json.loads(ok(cli("rm", "m", "--all", "--yes", "--missing-ok", "--json")).stdout)
    assert gone == {"name": "m", "deleted": False, "versions": [], "aliases": []}


def test_ls_json_says_unknown_metadata_is_unknown(cli: Invoke, tmp_path: Path) -> None:
    build = tmp_path / "model.onnx"
    build.write_bytes(b"weights")
    assert cli("put", "my-model", str(build), "--meta", "commit=a1b2c3").exit_code == 0
    assert cli("publish", "my-model").exit_code == 0
    listed = json.loads(cli("ls", "my-model", "--json").stdout)
    version = next(a for a in listed if a["version"] == "1")
    assert (version["metadata"], version["content_type"]) == (None, None)
    shown = json.loads(cli("show", "my-model", "1", "--json").stdout)
    assert shown["metadata"] == {"commit": "a1b2c3"}
    unchanged = json.loads(cli("publish", "my-model", "--json").stdout)
    assert unchanged["unchanged"] and unchanged["metadata"] is None
