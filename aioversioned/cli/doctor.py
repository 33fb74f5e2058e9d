"""``aioversioned doctor``: which conditions the guarantees rest on hold on this server."""

from __future__ import annotations

import typer

from .options import JsonOption
from .support import Cli


def doctor(cli: Cli, json_output: JsonOption = False) -> None:
    """Check that the server enforces the conditional requests the guarantees rest on.

    Probes If-None-Match and If-Match on PutObject, If-Match on DeleteObject, the copy
    conditions, and one winner among concurrent conditional writes, on scratch objects
    that are deleted afterwards. One line per condition; exit 0 when all hold, 1 when
    one does not.
    """
    check = cli.repo.check_server()
    if json_output:
        cli.json(check.model_dump(mode="json"))
    else:
        width = max(len(probe.condition) for probe in check.probes)
        for probe in check.probes:
            verdict = "holds" if probe.holds else "FAILS"
            line = f"{verdict}  {probe.condition:{width}}  {probe.detail}"
            if not probe.holds:
                line += f"; at stake: {'; '.join(probe.guarantees)}"
            cli.value(line)
        failed = sum(not probe.holds for probe in check.probes)
        where = check.endpoint_url
        cli.say(
            f"all {len(check.probes)} conditions hold on {where}"
            if not failed
            else f"{failed} of {len(check.probes)} conditions do not hold on {where}",
            err=bool(failed),
        )
    if not check.all_hold:
        raise typer.Exit(1)
