"""RestoreGradedCells: report tampered graded or locked cells and put deleted ones back."""
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor

from autograde.grading.inspection import cell_integrity
from autograde.grading.gradebook.flags import METADATA_KEY, add_flag

class RestoreGradedCells(NbGraderPreprocessor):
    """Report duplicated, retyped and edited graded/locked cells (nbgrader repairs those) and put
    deleted ones back in place (nbgrader's own re-insertion can crash). Flag T."""

    def preprocess(self, nb, resources):
        nb.metadata.pop(METADATA_KEY, None)  # flags come from the grader, never from the file
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            master = cell_integrity.master_cells(gb, info["notebook"], info["assignment"])
        found = cell_integrity.findings(nb, master)
        cell_integrity.drop_duplicate_ids(nb)
        for name, message in found + cell_integrity.restore_missing(nb, master):
            add_flag(nb, "T", message, name)
        return nb, resources
