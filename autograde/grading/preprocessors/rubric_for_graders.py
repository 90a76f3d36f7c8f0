"""RubricForGraders: on the formgrader's grading page, under each written answer, the master's model
answer and rubric (the solution region of the same cell in source/), so that whoever grades has
them at hand; on no page a student sees.

The formgrader renders a submission with the HTML exporter whose preprocessors nbgrader_config.py
lists, and hands it the submission's ids (`submission_id` among them); the feedback converter hands
the same exporter resources["nbgrader"] instead, and gets nothing from this step.
"""
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbgrader import utils
from nbgrader.coursedir import CourseDirectory

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HEADING = "**For the grader: the model answer and the rubric** (from the master; students never see them)"


def model_answers(master):
    """{grade id: the solution region} of the master's written answers."""
    notes = {}
    for cell in nbformat.read(master, as_version=4).cells:
        if cell.cell_type == "markdown" and utils.is_grade(cell) and utils.is_solution(cell):
            start, end = cell.source.find(BEGIN), cell.source.find(END)
            if 0 <= start < end:
                notes[cell.metadata["nbgrader"]["grade_id"]] = cell.source[start + len(BEGIN):end].strip()
    return notes


class RubricForGraders(Preprocessor):

    def preprocess(self, nb, resources):
        if "submission_id" not in resources or "nbgrader" in resources:
            return nb, resources  # not the formgrader's grading page
        course = CourseDirectory(config=self.config)
        master = Path(course.format_path(course.source_directory, ".", resources["assignment_id"]),
                      f"{resources['notebook_id']}.ipynb")
        notes = model_answers(master) if master.is_file() else {}
        for cell in nb.cells:
            note = notes.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
            if cell.cell_type == "markdown" and note:
                cell.source += f"\n\n---\n\n{HEADING}\n\n{note}"
        return nb, resources
