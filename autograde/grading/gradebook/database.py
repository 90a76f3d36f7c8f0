"""The course's gradebook: nbgrader's own, in SQLite (the default) or on a database server.

Only the parent process writes it. Scores are saved once, by nbgrader's own SaveAutoGrades and
AssignLatePenalties from the graded notebooks, exactly as `nbgrader autograde` saves them. A
submission that could not be graded gets 0 on every graded cell: a failed re-grade never leaves
the previous score standing.

Where the gradebook lives is nbgrader's `CourseDirectory.db_url`, which the course's
nbgrader_config.py takes from BACKPROP_LAB_DB_URL when that is set (`--db-url` sets it), so
every entry point, nbgrader's own included, opens the same database.
"""
import functools
import os
import sqlite3
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import patch

from nbgrader.api import Base, Gradebook
from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
from sqlalchemy import create_engine
from sqlalchemy.exc import SAWarning

DB_URL_VARIABLE = "BACKPROP_LAB_DB_URL"
# What a gradebook says about the assignments, without students: what a grading worker needs.
DEFINITIONS = ("course", "assignment", "notebook", "base_cell", "source_cell", "grade_cells", "solution_cells",
               "task_cells")


def quiet_sqlalchemy():
    """nbgrader's own gradebook code trips SQLAlchemy's autoflush warnings; they are noise.
    Called here and in every grading worker."""
    warnings.filterwarnings("ignore", category=SAWarning)


quiet_sqlalchemy()


def db_url(course):
    """The course's gradebook URL, as nbgrader_config.py sets it (else nbgrader's default file)."""
    return _configured_url(str(Path(course).resolve()), os.environ.get(DB_URL_VARIABLE, ""))


@functools.lru_cache(maxsize=None)
def _configured_url(course, _environment):
    from autograde.grading.course.config import course_config
    config_file = Path(course) / "nbgrader_config.py"
    configured = course_config(config_file).CourseDirectory.get("db_url") if config_file.is_file() else None
    return configured or f"sqlite:///{Path(course) / 'gradebook.db'}"


@contextmanager
def stamped_in_process():
    """nbgrader stamps a new gradebook with the schema version it gets by running `alembic heads`
    in a subprocess (2 s here): within this, it gets it from alembic's library in this process."""
    import nbgrader
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    head = ScriptDirectory.from_config(config).get_current_head()
    with patch("nbgrader.api.get_alembic_version", return_value=head):
        yield head


def gradebook_file(course):
    """The SQLite file behind the gradebook, or None when it lives on a server."""
    url = db_url(course)
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


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


def save_not_graded(course, assignment, student, timestamp):
    """The grader failed on this submission: no score at all (none stale either), every graded cell
    waiting for a person, as the formgrader shows it, until it is graded again."""
    with Gradebook(db_url(course)) as gb:
        open_submission(gb, assignment, student, timestamp)
    zero(course, assignment, student, score=None)


def zero(course, assignment, student, notebooks=None, score=0):
    with Gradebook(db_url(course)) as gb:
        submission = gb.find_submission(assignment, student)
        for notebook in submission.notebooks:
            if notebooks is not None and notebook.name not in notebooks:
                continue
            for grade in notebook.grades:
                grade.auto_score = score
                grade.needs_manual_grade = score is None
            for comment in notebook.comments:
                comment.auto_comment = None
        gb.db.commit()


def backup(course, target):
    """A consistent copy of a SQLite gradebook (sqlite's online backup), for undoing student writes.
    Returns False for a gradebook on a server, which student code in the sandbox cannot reach."""
    path = gradebook_file(course)
    if path is None:
        return False
    source = sqlite3.connect(path)
    copy = sqlite3.connect(target)
    with copy:
        source.backup(copy)
    source.close()
    copy.close()
    return True


def template(course, target):
    """A SQLite gradebook at `target` with the course's assignments and no students: what a
    grading worker gets, whatever database the course's gradebook lives in."""
    url = f"sqlite:///{target}"
    source, copy = create_engine(db_url(course)), create_engine(url)
    with stamped_in_process():
        Gradebook(url).close()
    tables = [table for table in Base.metadata.sorted_tables if table.name in DEFINITIONS]
    with source.connect() as read, copy.begin() as write:
        for table in reversed(tables):
            write.execute(table.delete())
        for table in tables:
            rows = [dict(row._mapping) for row in read.execute(table.select())]
            if rows:
                write.execute(table.insert(), rows)
    source.dispose()
    copy.dispose()


@dataclass
class CellGrade:
    notebook: str
    name: str
    score: float
    max_score: float
    needs_grading: bool  # a written answer no person has scored yet
    comment: str = ""  # a grader's comment on the answer (nbgrader's own "No response." for a blank one)


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
                # nbgrader also marks a hand-scored answer for review when it is graded again: that
                # one has its score, so it is not waiting
                cells = []
                for notebook in submission.notebooks:
                    # a written answer's comment has its cell's name (the answer is its own grade cell)
                    comments = {comment.name: comment.comment or "" for comment in notebook.comments}
                    cells += [CellGrade(notebook.name, grade.name, grade.score, grade.max_score,
                                        grade.needs_manual_grade and grade.manual_score is None,
                                        comments.get(grade.name, ""))
                              for grade in notebook.grades]
                found.append(SubmissionGrades(assignment.name, submission.student.id, submission.score,
                                              submission.max_score, cells))
    return found


def cell_scores(workdir, assignment):
    """{student: {grade cell id: (score, max_score)}} from the scratch course's gradebook."""
    scores = {}
    with Gradebook(db_url(workdir)) as gb:
        for submission in gb.assignment_submissions(assignment):
            cells = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    cells[grade.name] = (grade.score, grade.max_score)
            scores[submission.student.id] = cells
    return scores
