"""Grades as CSV: one row per student and assignment, and one per graded cell (which exercise
did the class get wrong?). Written answers that no person has scored yet say "needs grading"; a
grader's comment on an answer is in the cell's row."""
import csv
from collections import defaultdict
from pathlib import Path

from autograde.grading.gradebook.flags import letters
from autograde.grading.gradebook.database import class_grades
from autograde.grading.gradebook.records import read_record

SUBMISSION_COLUMNS = ["student", "assignment", "score", "max_score", "graded", "needs_grading", "flags", "reason"]
CELL_COLUMNS = ["student", "assignment", "notebook", "cell", "status", "score", "max_score", "flags", "comment"]
WAITING = "needs grading"


def export(course, out_dir, assignments=None):
    """Write grades.csv and cells.csv into `out_dir`; return their paths and per-cell class means."""
    course, out_dir = Path(course), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    submissions, cells = [], []
    for grades in class_grades(course, assignments):
        record = read_record(course, grades.assignment, grades.student)
        flags = record.flags if record else []
        submissions.append({
            "student": grades.student, "assignment": grades.assignment, "score": grades.score,
            "max_score": grades.max_score, "graded": bool(record.graded) if record else "",
            "needs_grading": " ".join(grades.waiting), "flags": letters(flags), "reason": record.reason if record else "",
        })
        for cell in grades.cells:
            cells.append({
                "student": grades.student, "assignment": grades.assignment, "notebook": cell.notebook,
                "cell": cell.name, "status": WAITING if cell.needs_grading else "graded",
                "score": "" if cell.needs_grading else cell.score, "max_score": cell.max_score,
                "flags": letters([f for f in flags if f.get("cell") == cell.name]), "comment": cell.comment,
            })
    grades_csv, cells_csv = out_dir / "grades.csv", out_dir / "cells.csv"
    write(grades_csv, SUBMISSION_COLUMNS, sorted(submissions, key=lambda r: (r["student"], r["assignment"])))
    write(cells_csv, CELL_COLUMNS, sorted(cells, key=lambda r: (r["assignment"], r["student"])))
    return grades_csv, cells_csv, cell_means(cells)


def write(path, columns, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def cell_means(cells):
    """{(assignment, cell): (mean score, max score)} over the scored cells: the exercises the class found hard."""
    totals = defaultdict(list)
    for row in cells:
        if row["status"] != WAITING:
            totals[row["assignment"], row["cell"]].append((row["score"], row["max_score"]))
    return {key: (sum(s for s, _ in v) / len(v), v[0][1]) for key, v in totals.items()}
