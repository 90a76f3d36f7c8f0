"""Feedback HTML for students: nbgrader's GenerateFeedback with the course's preprocessors
(hidden tests removed, the grader's flags on top), and a short page for a submission that
could not be graded, saying why (instead of a stale page from an earlier grading)."""
import html
import logging
import shutil
from pathlib import Path

from nbgrader.converters import GenerateFeedback
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory

from ..flags import LEGEND
from ..worker import course_config
from ..runner import STATUS_DIR, read_status


def generate(course, assignments=None, students=None):
    """Write feedback/<student>/<assignment>/*.html; return the number of pages written."""
    course = Path(course).resolve()
    written = 0
    for assignment, student in submissions(course, assignments, students):
        status = read_status(course, assignment, student)
        target = course / "feedback" / student / assignment
        shutil.rmtree(target, ignore_errors=True)
        if status is not None and not status.graded:
            written += not_graded_page(target, assignment, status)
        else:
            written += nbgrader_feedback(course, assignment, student)
    return written


def submissions(course, assignments, students):
    found = []
    graded = course / "autograded" / STATUS_DIR
    for folder in sorted(graded.iterdir()) if graded.is_dir() else []:
        if assignments and folder.name not in assignments:
            continue
        for status in sorted(folder.glob("*.json")):
            if not students or status.stem in students:
                found.append((folder.name, status.stem))
    return found


def nbgrader_feedback(course, assignment, student):
    config = course_config(course / "nbgrader_config.py")
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = student
    logger = logging.getLogger("autograde.grading.reports.feedback")
    logger.setLevel(logging.ERROR)
    try:
        GenerateFeedback(coursedir=CourseDirectory(config=config, log=logger), config=config, log=logger).start()
    except NbGraderException:
        return 0
    return len(list((course / "feedback" / student / assignment).glob("*.html")))


def not_graded_page(target, assignment, status):
    target.mkdir(parents=True, exist_ok=True)
    notes = "".join(f"<li><b>{html.escape(f['code'])}</b> {html.escape(LEGEND[f['code']])}: "
                    f"{html.escape(f['message'])}</li>" for f in status.flags)
    (target / "not_graded.html").write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(assignment)}: not graded</title>"
        f"</head><body><h1>{html.escape(assignment)}: your submission could not be graded</h1>"
        f"<p>Score: 0. Reason: {html.escape(status.reason)}</p><ul>{notes}</ul>"
        "<p>Please check the file you submitted (open it in Jupyter, <i>Restart &amp; Run All</i>) and "
        "contact the instructor.</p></body></html>")
    return 1
