"""The class at a glance: one row per student, one column per assignment, flags as letters.

Scores come from the gradebook (so manual grades and late penalties count); flags and reasons
from the record the grader wrote for each submission.
"""
from pathlib import Path

from nbgrader.api import Gradebook

from .. import gradebook
from ..flags import LEGEND, ORDER, letters
from ..records import read_record

NAME_WIDTH = 24


def class_grades(course, assignments=None):
    """{(assignment, student): (score, max score)} for every submission in the gradebook."""
    grades = {}
    with Gradebook(gradebook.db_url(course)) as gb:
        for assignment in gb.assignments:
            if assignments and assignment.name not in assignments:
                continue
            for submission in gb.assignment_submissions(assignment.name):
                grades[assignment.name, submission.student.id] = (submission.score, submission.max_score)
    return grades


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


def table(course, assignments=None, details=True):
    """The summary as text."""
    course = Path(course)
    grades = class_grades(course, assignments)
    columns = sorted({a for a, _ in grades})
    students = sorted({s for _, s in grades})
    if not grades:
        return "No graded submissions yet."
    width = max([10] + [len(a) for a in columns])
    name_width = min(NAME_WIDTH, max(len("student"), *(len(s) for s in students)))
    lines = ["student".ljust(name_width) + "  " + "  ".join(a.rjust(width) for a in columns)]
    not_graded, notes, used = [], [], set()
    for student in students:
        cells = []
        for assignment in columns:
            if (assignment, student) not in grades:
                cells.append("-".rjust(width))
                continue
            score, maximum = grades[assignment, student]
            record = read_record(course, assignment, student)
            flags = record.flags if record else []
            marks = letters(flags)
            used.update(marks)
            cells.append(f"{fmt(score)}/{fmt(maximum)} {marks:<3}".rjust(width))
            if record and not record.graded:
                not_graded.append(f"  {student} / {assignment}: {record.reason}")
            elif flags and details:
                notes.extend(f"  {student} / {assignment}: {line}" for line in grouped(flags))
        name = student if len(student) <= name_width else student[:name_width - 1] + "…"
        lines.append(name.ljust(name_width) + "  " + "  ".join(cells))
    means = []
    for assignment in columns:
        scores = [grades[a, s] for a, s in grades if a == assignment]
        means.append(f"{fmt(sum(s for s, _ in scores) / len(scores))}/{fmt(scores[0][1])}    ".rjust(width))
    lines.append("class mean".ljust(name_width) + "  " + "  ".join(means))
    if used:
        lines += ["", "Flags:"] + [f"  {code}  {LEGEND[code]}" for code in ORDER if code in used]
    if not_graded:
        lines += ["", f"Not graded ({len(not_graded)}), scored 0:"] + not_graded
    if notes:
        lines += ["", "Flag details:"] + notes
    return "\n".join(lines)
