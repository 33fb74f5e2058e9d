"""The one-poll-per-host benchmark runs (tiny): processes sharing a cache_dir poll once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import host


def test_quick_host_run_writes_its_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = host.run(host.parse_args(["--quick", "--out", str(tmp_path)]))
    rows = json.loads((tmp_path / "host.json").read_text())["results"]
    assert rows == json.loads(json.dumps(document["results"]))
    assert [(row["processes"], row["mode"]) for row in rows] == [(1, "shared"), (3, "shared")]
    for row in rows:
        assert row["holders"] == 1 and row["all_served_s"] > 0
        # 2 s at 0.2 s: one follower's 10 GETs (a poll more or less at the window's ends).
        assert 8 <= row["idle_requests"] <= 12
    assert "| moto | 3 | shared |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [["--counts", "x"], ["--modes", "both"], ["--servers", "minio"], ["--interval", "0"]],
)
def test_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        host.parse_args(argv)
