"""DropCauseOutputs: the cause codes a failed check records are for the instructor's report, not
for the student's feedback page (where their empty output would show as an empty box)."""
from autograde.grading.preprocessors.feedback_page import FeedbackPagePreprocessor

from ...cause import MIME


class DropCauseOutputs(FeedbackPagePreprocessor):

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.outputs = [out for out in cell.get("outputs", []) if MIME not in out.get("data", {})]
        return cell, resources
