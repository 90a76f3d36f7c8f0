"""Feedback HTML for students: nbgrader's GenerateFeedback with the course's preprocessors
(hidden tests removed, the grader's flags on top), and a short page for a submission that
could not be graded, saying why (instead of a stale page from an earlier grading)."""
import html
import logging
import os
import shutil
from collections import defaultdict
from contextlib import chdir
from pathlib import Path
from typing import NamedTuple

import nbgrader
from nbgrader.converters import GenerateFeedback
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory
from tqdm import tqdm
from traitlets.config import Config

from autograde.grading.course.config import course_config
from autograde.grading.gradebook.flags import LEGEND
from autograde.grading.gradebook.database import db_url
from autograde.grading.scheduling.pools import LocalPool
from autograde.grading.gradebook.records import read_record, recorded_submissions


# The course's page template (templates/feedback) extends nbgrader's, which it finds by this folder's
# path templates/feedback/index.html.j2: both template folders, and this one as a place to look.
COURSE_TEMPLATES = Path(__file__).parent / "templates"
NBGRADER_FORMGRADER = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"


class Pages(NamedTuple):
    written: int
    failed: list  # [(assignment, student)] graded, but nbgrader made no page for them


def generate(course, assignments=None, students=None, workers=0, progress=False):
    """Write feedback/<student>/<assignment>/*.html; return the pages written and the graded
    submissions nbgrader made no page for. nbgrader's pages are made by `workers` local processes at
    once (0: one per core), each assignment's students split between them."""
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
    bar = tqdm(total=sum(len(names) for _, names in batches), unit="page", desc="feedback", disable=not progress)
    failed = []
    pool = LocalPool(workers) if workers > 1 and len(batches) > 1 else None
    try:
        results = ([pool.submit(nbgrader_feedback, course, assignment, names, url) for assignment, names in batches]
                   if pool else [nbgrader_feedback(course, assignment, names, url) for assignment, names in batches])
        for (assignment, names), result in zip(batches, results):
            made = result.result() if pool else result
            written += len(made)
            failed += [(assignment, student) for student in names if student not in made]
            bar.update(len(names))
    finally:
        bar.close()
        if pool:
            pool.close()
    return Pages(written, sorted(failed))


def nbgrader_feedback(course, assignment, students, url):
    """nbgrader's GenerateFeedback for `students`, all in one converter (its templates compile once,
    not once a student); a notebook that fails costs only its own page. Returns the students whose
    page was made (nbgrader reports failures only after converting the others)."""
    others = [folder.name for folder in (course / "autograded").iterdir()  # not the records' folder, .grading
              if not folder.name.startswith(".") and folder.name not in students and (folder / assignment).is_dir()]
    config = course_config(course / "nbgrader_config.py")
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = url
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = "*"
    config.CourseDirectory.student_id_exclude = ",".join(others)
    config.ShowFlags.course = str(course)  # the flags come from the submission's record
    config.HTMLExporter.extra_template_basedirs = [str(COURSE_TEMPLATES), str(NBGRADER_FORMGRADER / "templates")]
    logger = logging.getLogger("autograde.grading.reports.feedback")
    logger.setLevel(logging.ERROR)
    with chdir(os.getcwd()):  # nbgrader changes into the course folder: back here afterwards
        try:
            converter = GenerateFeedback(coursedir=CourseDirectory(config=config, log=logger), config=config, log=logger)
            # nbgrader's converter sets the exporter's extra_template_paths (its stylesheet's folder) itself
            paths = [*converter.config.HTMLExporter.extra_template_paths, str(NBGRADER_FORMGRADER)]
            converter.update_config(Config({"HTMLExporter": {"extra_template_paths": paths}}))
            converter.start()
        except NbGraderException:
            pass  # the ones without a page are reported by the caller
    return [student for student in students if any((course / "feedback" / student / assignment).glob("*.html"))]


def not_graded_page(target, assignment, record):
    target.mkdir(parents=True, exist_ok=True)
    notes = "".join(f"<li><b>{html.escape(f['code'])}</b> {html.escape(LEGEND[f['code']])}: "
                    f"{html.escape(f['message'])}</li>" for f in record.flags)
    (target / "not_graded.html").write_text(
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(assignment)}: not graded</title>"
        f"</head><body><main><h1>{html.escape(assignment)}: your submission could not be graded</h1>"
        f"<p>Score: 0. Reason: {html.escape(record.reason)}</p><ul>{notes}</ul>"
        "<p>Please check the file you submitted (open it in Jupyter, <i>Restart &amp; Run All</i>) and "
        "contact the instructor.</p></main></body></html>")
    return 1
