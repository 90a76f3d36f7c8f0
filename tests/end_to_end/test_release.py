"""release/ is what `nbgrader generate_assignment` makes from source/ today, and leaks nothing."""
import json

import nbformat
import pytest

from autograde.grading.course.layout import ROOT, available_assignments, make_course, notebook_path
from autograde.grading.course.release import generate_release

pytestmark = pytest.mark.nbgrader


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    workdir = make_course(tmp_path_factory.mktemp("release"), available_assignments())
    for assignment in available_assignments():
        generate_release(workdir, assignment)
    return workdir


@pytest.mark.parametrize("assignment", available_assignments())
def test_release_is_up_to_date(assignment, fresh_release):
    committed = notebook_path(ROOT, "release", assignment)
    assert committed.exists(), f"{committed} is missing: run `python -m autograde release`"
    fresh = notebook_path(fresh_release, "release", assignment)
    assert json.loads(committed.read_text()) == json.loads(fresh.read_text()), (
        f"{committed} is out of date with source/{assignment}: run `python -m autograde release` and commit it"
    )


@pytest.mark.parametrize("assignment", available_assignments())
def test_release_has_no_solutions_hidden_tests_or_outputs(assignment):
    nb = nbformat.read(notebook_path(ROOT, "release", assignment), as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    for leak in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert leak not in text
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert graded and all(c.metadata["nbgrader"]["points"] > 0 for c in graded)


@pytest.mark.parametrize("assignment", available_assignments())
def test_every_graded_cell_has_hidden_tests(assignment):
    nb = nbformat.read(notebook_path(ROOT, "source", assignment), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            assert "### BEGIN HIDDEN TESTS" in cell.source, f"{meta['grade_id']} has no hidden tests"
