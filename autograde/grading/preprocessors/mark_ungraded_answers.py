"""MarkUngradedAnswers: in the feedback, say under each written answer that no person has scored yet
that its points are still to come, and show its score as "needs grading" in the page's table of
contents and the answer's header (nbgrader's page would show 0.0 there).

nbgrader's feedback template prints every score through Jinja's `float` and `round` filters; the
config registers `score_number` and `score_round` in their place, which leave that one marker as
it is and treat every number as Jinja's own filters do.
"""
from jinja2 import filters
from nbformat.v4 import new_markdown_cell
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from autograde.grading.preprocessors.feedback_page import FeedbackPagePreprocessor

NOTE = ("**Needs grading:** a person has not scored this answer yet; its {points:g} point(s) are not in "
        "the score above.")
NEEDS_GRADING = "needs grading"


def score_number(value, *args, **kwargs):
    return value if value == NEEDS_GRADING else filters.do_float(value, *args, **kwargs)


def score_round(value, *args, **kwargs):
    return value if value == NEEDS_GRADING else filters.do_round(value, *args, **kwargs)


class MarkUngradedAnswers(FeedbackPagePreprocessor):

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        waiting = set()
        with Gradebook(info["db_url"]) as gb:
            for cell in nb.cells:
                if not utils.is_grade(cell):
                    continue
                grade_id = cell.metadata["nbgrader"]["grade_id"]
                try:
                    grade = gb.find_grade(grade_id, info["notebook"], info["assignment"], info["student"])
                except MissingEntry:
                    continue
                if grade.needs_manual_grade:
                    waiting.add(grade_id)
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            if utils.is_grade(cell) and cell.metadata["nbgrader"]["grade_id"] in waiting:
                cell.metadata["nbgrader"]["score"] = NEEDS_GRADING  # this page's copy (GetGrades summed already)
                cells.append(new_markdown_cell(NOTE.format(points=cell.metadata["nbgrader"].get("points", 0))))
        nb.cells = cells
        return nb, resources
