"""Write a graded submission into the course's gradebook (only the parent process writes it).

Scores are saved once, by nbgrader's own SaveAutoGrades and AssignLatePenalties from the graded
notebooks, exactly as `nbgrader autograde` saves them. A submission that could not be graded
gets 0 on every graded cell: a failed re-grade never leaves the previous score standing.
"""
import sqlite3
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
from sqlalchemy.exc import SAWarning


def quiet_sqlalchemy():
    """nbgrader's own gradebook code trips SQLAlchemy's autoflush warnings; they are noise.
    Called here and in every (spawned) grading worker."""
    warnings.filterwarnings("ignore", category=SAWarning)


quiet_sqlalchemy()


def db_url(course):
    return f"sqlite:///{Path(course) / 'gradebook.db'}"


def open_submission(gb, assignment, student, timestamp):
    gb.update_or_create_student(student)
    if timestamp:
        return gb.update_or_create_submission(assignment, student, timestamp=timestamp)
    return gb.update_or_create_submission(assignment, student)


def save_graded(course, assignment, student, notebooks, timestamp, config):
    """Record the scores of the graded `notebooks` ({name: NotebookNode}); a missing one scores 0."""
    url = db_url(course)
    with Gradebook(url) as gb:
        submission = open_submission(gb, assignment, student, timestamp)
        names = [nb.name for nb in submission.notebooks]
    for name in names:
        if name not in notebooks:
            zero(course, assignment, student, [name])
            continue
        nb = notebooks[name]
        resources = {"nbgrader": {"notebook": name, "assignment": assignment, "student": student, "db_url": url}}
        for preprocessor in (SaveAutoGrades, AssignLatePenalties):
            nb, resources = preprocessor(config=config).preprocess(nb, resources)


def save_failure(course, assignment, student, timestamp):
    """The submission could not be graded: every graded cell scores 0."""
    with Gradebook(db_url(course)) as gb:
        open_submission(gb, assignment, student, timestamp)
    zero(course, assignment, student)


def zero(course, assignment, student, notebooks=None):
    with Gradebook(db_url(course)) as gb:
        submission = gb.find_submission(assignment, student)
        for notebook in submission.notebooks:
            if notebooks is not None and notebook.name not in notebooks:
                continue
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            for comment in notebook.comments:
                comment.auto_comment = None
        gb.db.commit()


def backup(course, target):
    """A consistent copy of the gradebook (sqlite's online backup)."""
    source = sqlite3.connect(Path(course) / "gradebook.db")
    copy = sqlite3.connect(target)
    with copy:
        source.backup(copy)
    source.close()
    copy.close()


def template(course, target):
    """A copy of the gradebook with the assignments and no students: what a working copy gets."""
    backup(course, target)
    with Gradebook(f"sqlite:///{target}") as gb:
        for student in [s.id for s in gb.students]:
            gb.remove_student(student)


@dataclass
class CellGrade:
    notebook: str
    name: str
    score: float
    max_score: float
    needs_grading: bool  # a written answer no person has scored yet


@dataclass
class SubmissionGrades:
    assignment: str
    student: str
    score: float
    max_score: float
    cells: list = field(default_factory=list)  # [CellGrade]

    @property
    def waiting(self):
        """Grade ids of the written answers that wait for a person."""
        return [cell.name for cell in self.cells if cell.needs_grading]


def class_grades(course, assignments=None):
    """[SubmissionGrades] of every submission in the gradebook (manual scores and late penalties included)."""
    found = []
    with Gradebook(db_url(course)) as gb:
        for assignment in gb.assignments:
            if assignments and assignment.name not in assignments:
                continue
            for submission in gb.assignment_submissions(assignment.name):
                cells = [CellGrade(notebook.name, grade.name, grade.score, grade.max_score, grade.needs_manual_grade)
                         for notebook in submission.notebooks for grade in notebook.grades]
                found.append(SubmissionGrades(assignment.name, submission.student.id, submission.score,
                                              submission.max_score, cells))
    return found
