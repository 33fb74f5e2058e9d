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


def write_scale_plot(path: Path, rows: list[dict[str, Any]]) -> None:
    """One log-log panel of time vs N per operation of the scale run; the plain
    listings (floor) share the panel of the library's listing of the same group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[tuple[str, str], list[dict[str, Any]]] = {}
    first_of_group: dict[str, tuple[str, str]] = {}
    for row in rows:
        if row["contender"] == "lib":
            key = (row["group"], row["operation"])
            first_of_group.setdefault(row["group"], key)
            panels.setdefault(key, [])
    for row in rows:
        key = (row["group"], row["operation"])
        if row["contender"] != "lib":
            key = first_of_group.get(row["group"], key)
        panels.setdefault(key, []).append(row)
    if not panels:
        return
    columns = 3
    count = len(panels)
    lines = -(-count // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(5.2 * columns, 3.8 * lines), squeeze=False)
    for index, ((group, operation), subset) in enumerate(panels.items()):
        ax = axes[index // columns][index % columns]
        series: dict[str, list[tuple[int, float]]] = {}
        for row in subset:
            delay = f", {row['delay_ms']:g} ms" if row["delay_ms"] else ""
            own = row["contender"] == "lib" and row["operation"] == operation
            label = "aioversioned" if own else f"{row['operation']}{delay}"
            series.setdefault(label, []).append((row["n"], row["seconds"] * 1000))
        values: list[float] = []
        for label, points in series.items():
            xs, ys = zip(*sorted(points), strict=True)
            style = "-" if label == "aioversioned" else "--"
            ax.plot(xs, ys, marker="o", label=label, linestyle=style)
            values += ys
            if label == "aioversioned" and len(xs) > 1:
                # What linear growth from the first point would be: slope 1 on log-log.
                linear = [ys[0] * x / xs[0] for x in xs]
                ax.plot(xs, linear, color="lightgray", linestyle=":", label="linear in N")
        ax.set_xscale("log")
        ax.set_yscale("log")
        if values and max(values) < 10 * min(values):  # flat: show a decade each way
            ax.set_ylim(min(values) / 10, max(values) * 10)
        ax.set_xlabel("N")
        ax.set_ylabel("time (ms)")
        ax.set_title(f"{group}: {operation}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    for index in range(count, lines * columns):
        axes[index // columns][index % columns].axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
