"""ShowFlags: what the grader noticed, in a note at the top of the feedback."""
from nbformat.v4 import new_markdown_cell
from autograde.grading.preprocessors.feedback_page import FeedbackPagePreprocessor
from traitlets import Unicode

from autograde.grading.gradebook.flags import LEGEND, notebook_flags
from autograde.grading.gradebook.records import read_record


class ShowFlags(FeedbackPagePreprocessor):
    """Put the grader's flags in a note at the top of the feedback: from the submission's record
    when the pipeline graded it, else from the graded notebook (plain `nbgrader autograde`)."""

    course = Unicode("", help="Course folder whose pipeline records hold the flags; '' to read them from "
                              "the notebook.").tag(config=True)

    def preprocess(self, nb, resources):
        record = self.record(resources)
        flags = record.flags if record else notebook_flags(nb)
        if flags:
            lines = ["**Notes from the grader**", ""]
            for flag in flags:
                where = f"`{flag['cell']}`: " if flag.get("cell") else ""
                lines.append(f"- **{flag['code']}** ({LEGEND[flag['code']]}) — {where}{flag['message']}")
            nb.cells.insert(0, new_markdown_cell("\n".join(lines)))
        return nb, resources

    def record(self, resources):
        info = resources.get("nbgrader", {})
        if not self.course or "assignment" not in info or "student" not in info:
            return None
        return read_record(self.course, info["assignment"], info["student"])
