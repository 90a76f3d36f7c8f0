"""Grades as CSV: one row per student and assignment, and one per graded cell (which exercise
did the class get wrong?)."""
import csv
from collections import defaultdict
from pathlib import Path

from nbgrader.api import Gradebook

from .. import gradebook
from ..flags import letters
from ..records import read_record

SUBMISSION_COLUMNS = ["student", "assignment", "score", "max_score", "graded", "flags", "reason"]
CELL_COLUMNS = ["student", "assignment", "notebook", "cell", "score", "max_score", "flags"]


def export(course, out_dir, assignments=None):
    """Write grades.csv and cells.csv into `out_dir`; return their paths and per-cell class means."""
    course, out_dir = Path(course), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    submissions, cells = [], []
    with Gradebook(gradebook.db_url(course)) as gb:
        for assignment in gb.assignments:
            if assignments and assignment.name not in assignments:
                continue
            for submission in gb.assignment_submissions(assignment.name):
                student = submission.student.id
                record = read_record(course, assignment.name, student)
                flags = record.flags if record else []
                submissions.append({
                    "student": student, "assignment": assignment.name, "score": submission.score,
                    "max_score": submission.max_score, "graded": bool(record.graded) if record else "",
                    "flags": letters(flags), "reason": record.reason if record else "",
                })
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        cells.append({
                            "student": student, "assignment": assignment.name, "notebook": notebook.name,
                            "cell": grade.name, "score": grade.score, "max_score": grade.max_score,
                            "flags": letters([f for f in flags if f.get("cell") == grade.name]),
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
    """{(assignment, cell): (mean score, max score)}: the exercises the class found hard."""
    totals = defaultdict(list)
    for row in cells:
        totals[row["assignment"], row["cell"]].append((row["score"], row["max_score"]))
    return {key: (sum(s for s, _ in v) / len(v), v[0][1]) for key, v in totals.items()}
