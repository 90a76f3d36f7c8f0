"""Feedback HTML for students: nbgrader's GenerateFeedback with the course's preprocessors
(hidden tests removed, the grader's flags on top), and a short page for a submission that
could not be graded, saying why (instead of a stale page from an earlier grading)."""
import html
import logging
import shutil
from collections import defaultdict
from pathlib import Path

from nbgrader.converters import GenerateFeedback
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory

from ..flags import LEGEND
from ..course import course_config
from ..records import read_record, recorded_submissions


def generate(course, assignments=None, students=None):
    """Write feedback/<student>/<assignment>/*.html; return the number of pages written."""
    course = Path(course).resolve()
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
    for assignment, students_graded in graded.items():
        written += nbgrader_feedback(course, assignment, students_graded)
    return written


def nbgrader_feedback(course, assignment, students):
    """nbgrader's GenerateFeedback for `students`, all in one converter (its templates compile once,
    not once a student); a notebook that fails costs only its own page."""
    others = [folder.name for folder in (course / "autograded").iterdir()  # not the records' folder, .grading
              if not folder.name.startswith(".") and folder.name not in students and (folder / assignment).is_dir()]
    config = course_config(course / "nbgrader_config.py")
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = "*"
    config.CourseDirectory.student_id_exclude = ",".join(others)
    config.ShowFlags.course = str(course)  # the flags come from the submission's record
    logger = logging.getLogger("autograde.grading.reports.feedback")
    logger.setLevel(logging.ERROR)
    try:
        GenerateFeedback(coursedir=CourseDirectory(config=config, log=logger), config=config, log=logger).start()
    except NbGraderException:
        pass  # nbgrader converts the others first, then reports the failures
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
