"""The PNG: time vs N of list_artifact_versions per delay, and the other cases as bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .runner import CONTENDERS

COLORS = {"lib": "tab:blue", "peer": "tab:red", "floor": "tab:gray"}
LABELS = {"lib": "aioversioned", "peer": "versioned 1.0.1", "floor": "floor (aiobotocore)"}


def write_plot(path: Path, rows: list[dict[str, Any]]) -> None:
    """Draw the results (matplotlib, Agg backend) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    delays = sorted({r["delay_ms"] for r in rows})
    listing = [r for r in rows if r["scenario"] == "list_artifact_versions"]
    others = [r for r in rows if r["scenario"] != "list_artifact_versions"]
    panels = [kind for kind, subset in (("list", listing), ("bars", others)) if subset]
    if not panels:
        return
    fig, axes = plt.subplots(
        len(panels),
        len(delays),
        figsize=(6.5 * len(delays), 4.5 * len(panels)),
        squeeze=False,
        height_ratios=[1.0 if kind == "list" else 1.4 for kind in panels],
    )
    for column, delay in enumerate(delays):
        for row_index, kind in enumerate(panels):
            ax = axes[row_index][column]
            if kind == "list":
                _plot_listing(ax, [r for r in listing if r["delay_ms"] == delay], delay)
            else:
                _plot_bars(ax, [r for r in others if r["delay_ms"] == delay], delay)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_listing(ax: Any, rows: list[dict[str, Any]], delay: float) -> None:
    for contender in CONTENDERS:
        points = sorted((r["param"], r["median_ms"]) for r in rows if r["contender"] == contender)
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", color=COLORS[contender], label=LABELS[contender])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("published versions N")
    ax.set_ylabel("median time (ms)")
    ax.set_title(f"list_artifact_versions, {delay:g} ms per request")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def _plot_bars(ax: Any, rows: list[dict[str, Any]], delay: float) -> None:
    cases = list(dict.fromkeys(r["case"] for r in rows))
    height = 0.8 / len(CONTENDERS)
    for index, contender in enumerate(CONTENDERS):
        medians = {r["case"]: r["median_ms"] for r in rows if r["contender"] == contender}
        positions = [i + index * height for i in range(len(cases))]
        ax.barh(
            positions,
            [medians.get(case, 0.0) for case in cases],
            height=height,
            color=COLORS[contender],
            label=LABELS[contender],
        )
    ax.set_yticks([i + height for i in range(len(cases))], cases, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median time (ms)")
    ax.set_title(f"other scenarios, {delay:g} ms per request")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.legend(fontsize=8)
