"""MarkUngradedAnswers: in the feedback, say under each written answer that no person has scored yet
that its points are still to come (nbgrader's page would show it as 0)."""
from nbformat.v4 import new_markdown_cell
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from autograde.grading.preprocessors.feedback_page import FeedbackPagePreprocessor

NOTE = ("**Needs grading:** a person has not scored this answer yet; its {points:g} point(s) are not in "
        "the score above.")


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
                cells.append(new_markdown_cell(NOTE.format(points=cell.metadata["nbgrader"].get("points", 0))))
        nb.cells = cells
        return nb, resources
