"""A picture of a job, as Lithops draws one: a bar per task attempt, coloured by phase and
grouped by stage, retries and failures marked, and the count of running tasks beneath.

Drawn with matplotlib (the `plot` extra) to PNG, SVG, or an HTML page holding the SVG. Every
attempt's bar is an SVG group with the id `task-<stage>-<task>-<attempt>`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

from sqlmr.errors import UsageError
from sqlmr.execution.trace_export import StageSpan, TaskAttempt

COLOURS = {"read": "#4C78A8", "compute": "#F58518", "write": "#54A24B"}
FAILED = "#D62728"
FORMATS = (".png", ".svg", ".html")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UsageError(
            "drawing a timeline needs matplotlib: install the plot extra "
            "(pip install 'sqlmr[plot]')"
        ) from None
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _running(tasks: Sequence[TaskAttempt], origin: float) -> tuple[list[float], list[int]]:
    """Times (from origin) and how many attempts run from each time on."""
    changes = sorted([(t.start, 1) for t in tasks] + [(t.end, -1) for t in tasks])
    times, counts, running = [0.0], [0], 0
    for at, step in changes:
        running += step
        times.append(at - origin)
        counts.append(running)
    return times, counts


def _draw_attempt(ax, y: int, t: TaskAttempt, origin: float) -> None:
    group = f"task-{t.stage}-{t.task}-{t.attempt}"
    if t.error or not t.phases:
        colour = FAILED if t.error else "#999999"
        width = max(t.end - t.start, 1e-4)
        bar = ax.barh(y, width, left=t.start - origin, height=0.8, color=colour, hatch="xx")
        bar.patches[0].set_gid(group)
        return
    # The phases as one broken bar: each segment its phase's colour, one SVG group per attempt.
    segments = [(start - origin, max(end - start, 1e-6)) for _, start, end in t.phases]
    colours = [COLOURS[name] for name, _, _ in t.phases]
    edge = "black" if t.attempt else "none"  # a retry (attempt > 0) is outlined
    bars = ax.broken_barh(segments, (y - 0.4, 0.8), facecolors=colours, edgecolor=edge)
    bars.set_gid(group)


def render_timeline(
    stages: Sequence[StageSpan], tasks: Sequence[TaskAttempt], path: str, title: str = ""
) -> None:
    """Draw the job's timeline to path (.png, .svg or .html)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise UsageError(f"cannot draw {path}: use a name ending in {', '.join(FORMATS)}")
    if not tasks:
        raise UsageError("the trace holds no task: nothing to draw")
    plt = _pyplot()
    from matplotlib.patches import Patch

    order = {s.id: i for i, s in enumerate(stages)}
    ordered = sorted(tasks, key=lambda t: (order.get(t.stage, len(order)), t.start, t.task))
    origin = min(min(t.start for t in tasks), min((s.start for s in stages), default=1e300))
    height = min(2 + 0.18 * len(ordered), 40)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(12, height + 2.5), sharex=True, height_ratios=[height, 2.5]
    )
    for y, t in enumerate(ordered):
        _draw_attempt(top, y, t, origin)
    # Stage bands: alternating shading over each stage's rows, the stage named on the axis.
    row, centres, names = 0, [], []
    for i, stage in enumerate(s.id for s in stages):
        count = sum(1 for t in ordered if t.stage == stage)
        if count:
            if i % 2:
                top.axhspan(row - 0.5, row + count - 0.5, color="#f0f0f0", zorder=0)
            centres.append(row + (count - 1) / 2)
            names.append(stage)
            row += count
    top.set_ylim(len(ordered) - 0.5, -0.5)
    top.set_yticks(centres, labels=names)
    top.set_ylabel("task attempts, by stage")
    legend = [Patch(color=c, label=n) for n, c in COLOURS.items()]
    legend += [Patch(facecolor=FAILED, hatch="xx", label="failed attempt")]
    legend += [Patch(facecolor="white", edgecolor="black", label="retry")]
    top.legend(handles=legend, loc="upper right", fontsize=8)
    top.set_title(title or f"{len(ordered)} task attempt(s) in {len(stages)} stage(s)")
    times, counts = _running(ordered, origin)
    bottom.step(times, counts, where="post", color="#333333")
    bottom.fill_between(times, counts, step="post", alpha=0.3, color="#333333")
    bottom.set_ylabel("running tasks")
    bottom.set_xlabel("seconds since the job started")
    fig.tight_layout()
    _save(fig, path, ext)
    plt.close(fig)


def _save(fig, path: str, ext: str) -> None:
    try:
        if ext == ".html":
            buf = io.StringIO()
            fig.savefig(buf, format="svg")
            svg = buf.getvalue()
            svg = svg[svg.index("<svg") :]  # inline: drop the XML prolog and doctype
            with open(path, "w", encoding="utf-8") as f:
                f.write(
                    "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
                    "<title>sqlmr job timeline</title></head><body>\n" + svg + "\n</body></html>\n"
                )
        else:
            fig.savefig(path, dpi=100)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from e
