"""Feedback HTML for students: nbgrader's GenerateFeedback with the course's preprocessors
(hidden tests removed, the grader's flags on top), and a short page for a submission that
could not be graded, saying why (instead of a stale page from an earlier grading)."""
import html
import logging
import os
import shutil
from collections import defaultdict
from pathlib import Path

from nbgrader.converters import GenerateFeedback
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory

from ..course import course_config
from ..flags import LEGEND
from ..gradebook import db_url
from ..pools import LocalPool
from ..records import read_record, recorded_submissions


def generate(course, assignments=None, students=None, workers=0):
    """Write feedback/<student>/<assignment>/*.html; return the number of pages written. nbgrader's
    pages are made by `workers` local processes at once (0: one per core), each assignment's
    students split between them."""
    course = Path(course).resolve()
    workers = workers or os.cpu_count() or 1
    written = 0
    graded = defaultdict(list)  # assignment -> students whose graded notebooks get nbgrader's page
    for assignment, student in recorded_submissions(course, assignments, students):
        record = read_record(course, assignment, student)
        target = course / "feedback" / student / assignment
        shutil.rmtree(target, ignore_errors=True)
        if record is not None and not record.graded:
            written += not_graded_page(target, assignment, record)
        else:
            graded[assignment].append(student)
    batches = [(assignment, names[part::workers]) for assignment, names in graded.items()
               for part in range(min(workers, len(names)))]
    url = db_url(course)  # explicit: a pool worker's environment is not this process's
    if workers == 1 or len(batches) == 1:
        return written + sum(nbgrader_feedback(course, assignment, names, url) for assignment, names in batches)
    pool = LocalPool(workers)
    try:
        futures = [pool.submit(nbgrader_feedback, course, assignment, names, url) for assignment, names in batches]
        return written + sum(future.result() for future in futures)
    finally:
        pool.close()


def nbgrader_feedback(course, assignment, students, url):
    """nbgrader's GenerateFeedback for `students`, all in one converter (its templates compile once,
    not once a student); a notebook that fails costs only its own page."""
    others = [folder.name for folder in (course / "autograded").iterdir()  # not the records' folder, .grading
              if not folder.name.startswith(".") and folder.name not in students and (folder / assignment).is_dir()]
    config = course_config(course / "nbgrader_config.py")
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = url
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = "*"
    config.CourseDirectory.student_id_exclude = ",".join(others)
    config.ShowFlags.course = str(course)  # the flags come from the submission's record
    logger = logging.getLogger("autograde.grading.reports.feedback")
    logger.setLevel(logging.ERROR)
    here = os.getcwd()  # nbgrader changes into the course folder
    try:
        GenerateFeedback(coursedir=CourseDirectory(config=config, log=logger), config=config, log=logger).start()
    except NbGraderException:
        pass  # nbgrader converts the others first, then reports the failures
    finally:
        os.chdir(here)
    return sum(len(list((course / "feedback" / student / assignment).glob("*.html"))) for student in students)


def not_graded_page(target, assignment, record):
    target.mkdir(parents=True, exist_ok=True)
    notes = "".join(f"<li><b>{html.escape(f['code'])}</b> {html.escape(LEGEND[f['code']])}: "
                    f"{html.escape(f['message'])}</li>" for f in record.flags)
    (target / "not_graded.html").write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(assignment)}: not graded</title>"
        f"</head><body><h1>{html.escape(assignment)}: your submission could not be graded</h1>"
        f"<p>Score: 0. Reason: {html.escape(record.reason)}</p><ul>{notes}</ul>"
        "<p>Please check the file you submitted (open it in Jupyter, <i>Restart &amp; Run All</i>) and "
        "contact the instructor.</p></body></html>")
    return 1
