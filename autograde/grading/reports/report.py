"""The mistake report: one self-contained HTML page (figures embedded as PNG, no server, readable
offline) on what the class got wrong, and causes.csv with its counts (assignment, cell, cause, count).

Per assignment: the distribution of the submissions' scores; per graded cell the mean score and
the share of the class that lost points; a heat map of causes (autograde.cause.CAUSES) by cell with
the counts; a few example messages per cell, without student ids. Written answers that wait for a
person say "needs grading". The counts come from autograde.grading.inspection.causes.
"""
import base64
import csv
import html
import io
import time
from pathlib import Path

from ...cause import CAUSES
from autograde.grading.inspection.causes import collect, rows

CSV_COLUMNS = ["assignment", "cell", "cause", "count"]
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #222; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 2px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; } td, th { padding: .25em .7em; border-bottom: 1px solid #e4e4e4; }
th { text-align: left; background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { display: inline-block; height: .8em; background: #d9534f; vertical-align: middle; margin-right: .4em; }
.cause { font-family: monospace; background: #fbe3e2; border-radius: 3px; padding: 0 .3em; }
.waiting { color: #8a6d3b; font-style: italic; }
pre { background: #f7f7f7; border-left: 3px solid #d9534f; padding: .5em .8em; white-space: pre-wrap;
      max-height: 16em; overflow: auto; font-size: .85em; }
figure { margin: 1em 0; } img { max-width: 100%; }
.muted { color: #595959; }  /* 7:1 on white; #777 is 4.48:1, below WCAG AA */
"""


def write(course, out_dir, assignments=None):
    """Write report.html and causes.csv into `out_dir`; return (html path, csv path, the counts)."""
    found = collect(course, assignments)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "causes.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows(found))
    html_path = out_dir / "report.html"
    html_path.write_text(page(found))
    return html_path, csv_path, found


# --- the page ------------------------------------------------------------------------------------

def page(found):
    e = html.escape
    used = [code for code in CAUSES if any(code in c.causes for s in found.values() for c in s.cells.values())]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Backprop Lab: what the class got wrong</title>", f"<style>{STYLE}</style></head><body><main>",
        "<h1>What the class got wrong</h1>",
        f"<p class='muted'>Mistake report, {e(time.strftime('%Y-%m-%d %H:%M'))}. Every graded cell that lost "
        "points is counted once, under the cause its check recorded (or the grader knew: a time limit, "
        "a dead kernel, a notebook that could not be graded). No student names appear on this page.</p>",
    ]
    if not found:
        parts.append("<p>No graded submissions yet.</p>")
    if used:
        parts.append("<table><tr><th>cause</th><th>meaning</th></tr>" + "".join(
            f"<tr><td><span class='cause'>{e(code)}</span></td><td>{e(CAUSES[code])}</td></tr>" for code in used)
            + "</table>")
    for assignment in sorted(found):
        parts.append(assignment_section(found[assignment]))
    parts.append("</main></body></html>")
    return "\n".join(parts)


def assignment_section(summary):
    e = html.escape
    scores = [score for score, _ in summary.totals]
    maximum = max((m for _, m in summary.totals), default=0)
    mean = sum(scores) / len(scores) if scores else 0
    notes = [f"{len(scores)} submissions, mean score {fmt(mean)} / {fmt(maximum)}"]
    if summary.not_graded:
        notes.append(f"{summary.not_graded} could not be graded (scored 0)")
    if summary.waiting:
        notes.append(f"{summary.waiting} with written answers that need grading (left out of the score until then)")
    out = [f"<h2 id='{e(summary.assignment)}'>{e(summary.assignment)}</h2>", f"<p>{e('; '.join(notes))}.</p>",
           figure(histogram(summary), f"{summary.assignment}: distribution of the submissions' scores"),
           cell_table(summary)]
    heat = heatmap(summary)
    if heat is None:
        out.append("<p>Nobody lost points on a graded cell.</p>")
    else:
        out.append(figure(heat, f"{summary.assignment}: why points were lost, by cell (submissions per cause)"))
    out.append("<h3>Example messages</h3>")
    shown = False
    for cell in summary.cells.values():
        if not cell.examples:
            continue
        shown = True
        out.append(f"<h4>{e(cell.cell)} <span class='muted'>({cell.lost} of {len(cell.scores)} lost points)</span></h4>")
        for cause, message, count in cell.examples:
            times = f" &times; {count}" if count > 1 else ""
            out.append(f"<div><span class='cause'>{e(cause)}</span>{times}<pre>{e(message)}</pre></div>")
    if not shown:
        out.append("<p class='muted'>None: no cell lost points.</p>")
    return "\n".join(out)


def cell_table(summary):
    e = html.escape
    lines = ["<table><tr><th>graded cell</th><th>points</th><th>mean score</th><th>lost points</th>"
             "<th>main causes</th></tr>"]
    for cell in summary.cells.values():
        if cell.scores:
            share = cell.share_lost
            mean = f"{fmt(cell.mean)}"
            lost = (f"<span class='bar' style='width:{share * 6:.2f}em'></span>{share:.0%} ({cell.lost} of "
                    f"{len(cell.scores)})")
        else:
            mean, lost = "", ""
        if cell.waiting:  # no share lost of the few scored so far: one blank scored of ten is not 100 %
            wait = f"<span class='waiting'>needs grading ({cell.waiting})</span>"
            scored = f" <span class='muted'>({len(cell.scores)} scored)</span><br>"
            mean = mean + scored + wait if cell.scores else wait
            lost = f"<span class='muted'>{cell.lost} of {len(cell.scores)} scored so far</span>" if cell.scores else ""
        causes = ", ".join(f"<span class='cause'>{e(code)}</span> {n}" for code, n in cell.causes.most_common(3))
        lines.append(f"<tr><td>{e(cell.cell)}</td><td class='num'>{fmt(cell.max_score)}</td>"
                     f"<td class='num'>{mean}</td><td>{lost}</td><td>{causes}</td></tr>")
    lines.append("</table>")
    return "\n".join(lines)


def fmt(number):
    return f"{number:g}" if float(number) == int(number) else f"{number:.2f}"


def figure(png, caption):
    data = base64.b64encode(png).decode("ascii")
    return (f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
            f"<figcaption class='muted'>{html.escape(caption)}</figcaption></figure>")


# --- the figures (matplotlib's Agg canvas, no pyplot: nothing global, no display) ------------------

def new_figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def histogram(summary):
    scores = [score for score, _ in summary.totals]
    maximum = max((m for _, m in summary.totals), default=0) or 1
    fig = new_figure(6, 2.6)
    ax = fig.add_subplot()
    bins = min(20, max(5, int(maximum)))
    ax.hist(scores, bins=bins, range=(0, maximum), color="#4a7ab5", edgecolor="white")
    ax.set_xlim(0, maximum)
    ax.set_xlabel(f"score (out of {fmt(maximum)})")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.spines[["top", "right"]].set_visible(False)
    return png(fig)


def heatmap(summary):
    """Cells x causes with the counts written in; None when no cell lost points."""
    cells = [cell for cell in summary.cells.values() if cell.scores]
    causes = [code for code in CAUSES if any(code in cell.causes for cell in cells)]
    causes += sorted({code for cell in cells for code in cell.causes} - set(causes))
    if not causes:
        return None
    counts = [[cell.causes.get(code, 0) for code in causes] for cell in cells]
    fig = new_figure(1.2 + 0.62 * len(causes) + 1.6, 0.9 + 0.38 * len(cells))
    ax = fig.add_subplot()
    top = max(max(row) for row in counts) or 1
    ax.imshow(counts, cmap="Reds", vmin=0, vmax=top * 1.15, aspect="auto")
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=9,
                        color="white" if count > top * 0.6 else "black")
    ax.set_xticks(range(len(causes)), causes, rotation=40, ha="right", fontsize=9)
    ax.set_yticks(range(len(cells)), [cell.cell for cell in cells], fontsize=9)
    ax.set_xticks([x - 0.5 for x in range(1, len(causes))], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, len(cells))], minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("cause")
    return png(fig)
