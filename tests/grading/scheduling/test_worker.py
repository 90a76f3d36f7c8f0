"""The grading worker (autograde/grading/scheduling/worker.py): unreadable files named, the score
writers left to the parent, why nbgrader failed."""
import logging

import nbformat
from nbgrader.preprocessors import AssignLatePenalties, LimitOutput, SaveAutoGrades

from autograde.grading.course.config import course_config
from autograde.grading.course.layout import ROOT, available_assignments
from autograde.grading.demo.samples import correct_submission
from autograde.grading.demo.samples.bad_inputs import BAD_INPUTS
from autograde.grading.scheduling.worker import RaisedErrors, unreadable_reason, writes_scores

ASSIGNMENTS = available_assignments()


def test_unreadable_files_are_named_with_their_reason(tmp_path):
    assignment = ASSIGNMENTS[0]
    reasons = {}
    for bad in BAD_INPUTS:
        content = bad.build(assignment)
        if isinstance(content, bytes):  # the files that are not notebooks
            path = tmp_path / f"{bad.name}.ipynb"
            path.write_bytes(content)
            reasons[bad.name] = unreadable_reason(path)
    assert "not valid JSON" in reasons["invalid_json"]
    assert "not a notebook" in reasons["not_a_notebook"]
    good = tmp_path / "good.ipynb"
    nbformat.write(correct_submission(assignment), good)
    assert unreadable_reason(good) is None


def test_the_worker_leaves_the_scores_to_the_parent():
    """The course config names its steps by import string or by class: either way the worker drops
    the two that write scores, which the parent runs once."""
    steps = course_config(ROOT / "nbgrader_config.py").Autograde.autograde_preprocessors
    writers = [step for step in steps if writes_scores(step)]
    assert len(writers) == 2 and all(isinstance(step, str) for step in writers)
    assert writes_scores(SaveAutoGrades) and writes_scores(AssignLatePenalties) and not writes_scores(LimitOutput)


def test_why_nbgrader_failed_is_the_exception_it_logged_not_a_line_of_its_log():
    """nbgrader logs a traceback's text inside its except block: the reason recorded is that
    exception, whatever the log's lines say."""
    raised = RaisedErrors()
    log = logging.getLogger("autograde.tests.raised")
    log.handlers, log.propagate = [raised], False
    log.error("Error: a line that only looks like an error")
    assert raised.summary() == ""
    try:
        raise ValueError("no kernel named 'python2'")
    except ValueError:
        log.error("There was an error processing assignment: hw")
        log.error("Traceback (most recent call last):\n  ...\nValueError: no kernel named 'python2'")
    log.error("KeyError: not raised, only printed")
    assert raised.summary() == "ValueError: no kernel named 'python2'"
