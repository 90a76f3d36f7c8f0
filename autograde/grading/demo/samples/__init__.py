"""The bundled sample class: submissions made from the master notebook by scripted edits.

Each chapter module lists VARIANTS. A variant starts from the correct answer (the master's
solution cells, markers removed, in the released notebook) or from the blank release, applies
its edits, and states what grading must give: the cells that must lose their points and a
phrase the failure message must contain.
"""
import copy
import importlib
from dataclasses import dataclass, field

import nbformat

from autograde.grading.course.layout import ASSIGNMENTS, ROOT, notebook_path

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

# What a student who differentiates numerically writes first: the samples that do so start with it.
NUMERICAL_GRADIENT = """
def central_differences(f, x, h=1e-6):
    \"\"\"Central differences of the scalar f at x, one entry at a time.\"\"\"
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + h
        up = f(x)
        x[i] = saved - h
        down = f(x)
        x[i] = saved
        grad[i] = (up - down) / (2 * h)
    return grad
"""


@dataclass
class Replace:
    """In solution cell `cell`, replace the text `old` (which must be there) by `new`."""
    cell: str
    old: str
    new: str

    def apply(self, nb):
        target = find_cell(nb, self.cell)
        if self.old not in target.source:
            raise ValueError(f"sample edit out of date: {self.old!r} is not in cell {self.cell!r}")
        target.source = target.source.replace(self.old, self.new, 1)


@dataclass
class Rewrite:
    """Replace the whole source of solution cell `cell` (an answer written another way)."""
    cell: str
    source: str

    def apply(self, nb):
        find_cell(nb, self.cell).source = self.source.strip("\n")


@dataclass
class Variant:
    name: str
    description: str
    edits: list = field(default_factory=list)
    blank: bool = False  # start from the release as handed out, not from the answer
    loses: dict = field(default_factory=dict)  # grade cell id -> phrase its failure message names

    def build(self, assignment, root=ROOT):
        nb = blank_submission(assignment, root) if self.blank else correct_submission(assignment, root)
        for edit in self.edits:
            edit.apply(nb)
        return nb


def find_cell(nb, grade_id):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def strip_markers(source):
    return "\n".join(line for line in source.splitlines() if line.strip() not in MARKERS)


def blank_submission(assignment, root=ROOT):
    return nbformat.read(notebook_path(root, "release", assignment), as_version=4)


def correct_submission(assignment, root=ROOT):
    """The released notebook with every solution cell answered as in the master."""
    master = nbformat.read(notebook_path(root, "source", assignment), as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: strip_markers(c.source)
        for c in master.cells if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb = copy.deepcopy(blank_submission(assignment, root))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = answers[meta["grade_id"]]
    return nb


def variants(assignment):
    """The VARIANTS of the chapter module named like the assignment's notebook."""
    module = importlib.import_module(f"{__name__}.{ASSIGNMENTS[assignment]}")
    return module.VARIANTS


def definitions(assignment, cells, variant="correct", edits=()):
    """The namespace that a sample submission's definition `cells` (grade ids, in order) create, as
    the notebook would: {"Linear": ..., "train": ...}. edits: more Replace/Rewrite edits on top."""
    import matplotlib

    matplotlib.use("Agg")  # the setup cell imports pyplot; nothing is drawn here
    base = next(v for v in variants(assignment) if v.name == variant)
    nb = Variant(variant, base.description, edits=[*base.edits, *edits], blank=base.blank).build(assignment)
    namespace = {}
    for grade_id in cells:
        exec(compile(find_cell(nb, grade_id).source, f"<{variant}:{grade_id}>", "exec"), namespace)
    return namespace
