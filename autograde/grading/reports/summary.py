"""The class at a glance: one row per student, one column per assignment, flags as letters.

Scores come from the gradebook (so manual grades and late penalties count); flags and reasons
from the record the grader wrote for each submission. A score marked WAITING still leaves out
written answers that no person has scored yet.
"""
from pathlib import Path

from tabulate import tabulate

from autograde.grading.gradebook.flags import LEGEND, ORDER, letters
from autograde.grading.gradebook.database import class_grades
from autograde.grading.gradebook.records import read_record
from autograde.grading.kernels.kernel_plan import describe

NAME_WIDTH = 24
WAITING = "?"


def grouped(flags, shown=2):
    """One line per flag letter: its first messages and how many more."""
    lines = []
    for code in ORDER:
        same = [f for f in flags if f["code"] == code]
        if same:
            text = "; ".join(f"{'[' + f['cell'] + '] ' if f.get('cell') else ''}{f['message']}" for f in same[:shown])
            lines.append(f"{code} {text}" + (f" (+{len(same) - shown} more)" if len(same) > shown else ""))
    return lines


def fmt(number):
    return f"{number:g}" if number == int(number) else f"{number:.1f}"


def sandbox_line(records):
    """What confined the students' kernels, from the records (what all had, if runs differed)."""
    runs = [record.protections for record in records if record and record.protections]
    if not runs:
        return ""
    common = [name for name in runs[0] if all(name in run for run in runs)]
    return describe(common) + ("" if all(run == runs[0] for run in runs) else " (some submissions had more)")


def table(course, assignments=None, details=True):
    """The summary as text."""
    course = Path(course)
    grades = {(g.assignment, g.student): g for g in class_grades(course, assignments)}
    records = {key: read_record(course, *key) for key in grades}  # each read once
    columns = sorted({a for a, _ in grades})
    students = sorted({s for _, s in grades})
    if not grades:
        return "No graded submissions yet."
    rows, not_graded, notes, used, waiting = [], [], [], set(), 0
    for student in students:
        cells = []
        for assignment in columns:
            if (assignment, student) not in grades:
                cells.append("-")
                continue
            submission = grades[assignment, student]
            record = records[assignment, student]
            flags = record.flags if record else []
            marks = letters(flags)
            used.update(marks)
            mark = WAITING if submission.waiting else ""
            waiting += bool(mark)
            cells.append(f"{fmt(submission.score)}{mark}/{fmt(submission.max_score)} {marks:<3}")
            if record and not record.graded:
                not_graded.append(f"  {student} / {assignment}: {record.reason}")
            elif flags and details:
                notes.extend(f"  {student} / {assignment}: {line}" for line in grouped(flags))
        name = student if len(student) <= NAME_WIDTH else student[:NAME_WIDTH - 1] + "…"
        rows.append([name, *cells])
    means = []
    for assignment in columns:
        scores = [g for g in grades.values() if g.assignment == assignment]
        mean = sum(g.score for g in scores) / len(scores)
        means.append(f"{fmt(mean)}/{fmt(scores[0].max_score)}    ")
    rows.append(["class mean", *means])
    # tabulate would strip the flags' trailing blanks, which keep the scores' slashes aligned
    lines = tabulate(rows, headers=["student", *columns], tablefmt="plain", colalign=["left"] + ["right"] * len(columns),
                     disable_numparse=True, preserve_whitespace=True).splitlines()
    sandbox = sandbox_line(records.values())
    if sandbox:
        lines.append(sandbox)
    if waiting:
        lines += ["", f"{WAITING}  {waiting} submission(s) have written answers that wait for a grader (formgrader); "
                      "their score leaves those answers out until then."]
    if used:
        lines += ["", "Flags:"] + [f"  {code}  {LEGEND[code]}" for code in ORDER if code in used]
    if not_graded:
        lines += ["", f"Not graded ({len(not_graded)}), scored 0:"] + not_graded
    if notes:
        lines += ["", "Flag details:"] + notes
    return "\n".join(lines)
