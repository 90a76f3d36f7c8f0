"""HideHiddenTests: feedback shows each test's result and message, never the hidden test code."""
from nbgrader import utils
from autograde.grading.preprocessors.feedback_page import FeedbackPagePreprocessor

from autograde.grading.inspection import hidden

class HideHiddenTests(FeedbackPagePreprocessor):
    """Feedback shows each test's result and message, never the hidden test code (neither the
    source nor the traceback lines that quote it)."""

    def preprocess(self, nb, resources):
        student_cells = {
            cell.get("execution_count") for cell in nb.cells
            if cell.cell_type == "code" and not utils.is_grade(cell) and not utils.is_locked(cell)
        }
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.source = hidden.hide_hidden_tests(cell.source)
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = hidden.student_traceback(out.get("traceback", []), student_cells)
        return nb, resources
