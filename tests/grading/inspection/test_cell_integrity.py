"""Cell integrity (autograde/grading/inspection/cell_integrity.py): deleted cells restored in their
place, tampered cells reported."""

import nbformat
import pytest

from autograde.grading.inspection import cell_integrity
from autograde.grading.course.layout import ROOT, available_assignments, notebook_path
from autograde.grading.demo.samples import correct_submission
from autograde.grading.demo.samples.bad_inputs import BAD_INPUTS, hang_every_function

ASSIGNMENTS = available_assignments()


def master_of(assignment):
    """The release's nbgrader cells as the gradebook holds them, read from the master notebook."""
    master = nbformat.read(notebook_path(ROOT, "source", assignment), as_version=4)
    cells = []
    for cell in master.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") and (meta.get("locked") or meta.get("grade") or meta.get("solution")):
            cells.append(cell_integrity.MasterCell(
                meta["grade_id"], cell.cell_type, cell.source, meta.get("checksum", ""), bool(meta.get("locked")),
                bool(meta.get("grade")), bool(meta.get("solution")), float(meta.get("points", 0))))
    return cells


def ids(nb):
    return [cell_integrity.grade_id(c) for c in nb.cells if cell_integrity.grade_id(c)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_deleted_cells_come_back_in_their_place(assignment):
    master = master_of(assignment)
    intact = correct_submission(assignment)
    broken = [b for b in BAD_INPUTS if b.name == "deleted_cells"][0].build(assignment)
    assert len(ids(broken)) == len(ids(intact)) - 2
    restored = cell_integrity.restore_missing(broken, master)
    assert len(restored) == 2 and ids(broken) == ids(intact)
    assert cell_integrity.findings(intact, master) == []


@pytest.mark.parametrize("name, phrase", [
    ("duplicated_cells", "appears 2 times"), ("retyped_cells", "was turned from a code cell"),
    ("edited_tests", "locked cell but was edited"),
])
def test_tampered_cells_are_reported(name, phrase):
    assignment = ASSIGNMENTS[0]
    nb = [b for b in BAD_INPUTS if b.name == name][0].build(assignment)
    found = cell_integrity.findings(nb, master_of(assignment))
    assert found and all(cell for cell, _ in found) and any(phrase in message for _, message in found), found


def test_endless_loop_edit_keeps_the_code_valid():
    source = 'def f(x):\n    """doc"""\n    return x\n\n\nclass A:\n    def g(self):\n        return 1'
    looped = hang_every_function(source)
    compile(looped, "<cell>", "exec")
    assert looped.count("while True") == 2
