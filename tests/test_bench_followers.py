"""The followers benchmark runs (tiny), and its safety figure holds: no bad pick."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import followers


def test_quick_followers_run_writes_its_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = followers.run(followers.parse_args(["--quick", "--out", str(tmp_path)]))
    rows = json.loads((tmp_path / "followers.json").read_text())["results"]
    assert rows == json.loads(json.dumps(document["results"]))
    assert [(row["server"], row["followers"]) for row in rows] == [("moto", 5), ("moto", 20)]
    for row in rows:
        assert row["bad_picks"] == 0 and row["picks_checked"] > 0
        # Idle: only conditional GETs, every one answered 304.
        assert set(row["idle_requests"]) == {"GET"}
        assert set(row["idle_statuses"]) <= {"GetObject 304"}
        assert row["all_served_s"] > 0
    assert "| moto | 20 |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["--counts", "x"], ["--servers", "minio"], ["--interval", "0"], ["--counts", "0"]]
)
def test_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        followers.parse_args(argv)
