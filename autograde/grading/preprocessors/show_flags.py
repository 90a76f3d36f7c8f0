"""ShowFlags: what the grader noticed, in a note at the top of the feedback."""
from nbformat.v4 import new_markdown_cell
from nbgrader.preprocessors import NbGraderPreprocessor

from ..flags import LEGEND, notebook_flags

class ShowFlags(NbGraderPreprocessor):
    """Put what the grader noticed (the flags) in a note at the top of the feedback."""

    def preprocess(self, nb, resources):
        flags = notebook_flags(nb)
        if flags:
            lines = ["**Notes from the grader**", ""]
            for flag in flags:
                where = f"`{flag['cell']}`: " if flag.get("cell") else ""
                lines.append(f"- **{flag['code']}** ({LEGEND[flag['code']]}) — {where}{flag['message']}")
            nb.cells.insert(0, new_markdown_cell("\n".join(lines)))
        return nb, resources
