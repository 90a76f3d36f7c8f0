"""Run a chapter's sample submissions through the master's test cells in-process, without nbgrader:
each test cell, hidden tests included, in the namespace the submission's definition cells create."""
import ast
import contextlib
import io

import nbformat
import numpy as np

from autograde.grading.course.layout import ROOT, notebook_path


def master_test_cells(assignment):
    """{grade id: (source with hidden tests, points)} of the master's autograded test cells."""
    nb = nbformat.read(notebook_path(ROOT, "source", assignment), as_version=4)
    cells = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            cells[meta["grade_id"]] = (cell.source, float(meta["points"]))
    return cells


def run_cell(source, namespace, points):
    """Run a test cell as nbgrader scores it: (score, what it printed and raised). A cell whose last
    line is a number scores that number (partial credit), at most its points."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(tree, "<test cell>", "exec"), namespace)
            value = eval(compile(ast.Expression(last.value), "<test cell>", "eval"), namespace) if last else None
    except Exception as exc:
        return 0.0, f"{out.getvalue()}{type(exc).__name__}: {exc}"
    score = min(float(value), points) if isinstance(value, (int, float)) and not isinstance(value, bool) else points
    return score, out.getvalue()


def grade_problems(variant, namespace, test_cells):
    """What is wrong with `variant`'s grades: a cell it must lose that kept its points or whose message
    lacks the phrase, or a cell it must keep that lost points. [] when all is as the variant says."""
    problems = []
    for cell, (source, points) in test_cells.items():
        score, text = run_cell(source, dict(namespace), points)
        if cell in variant.loses:
            if not score < points:
                problems.append(f"{cell} kept {score}/{points}, should lose points")
            elif variant.loses[cell] not in text:
                problems.append(f"{cell} message lacks {variant.loses[cell]!r}:\n{text}")
        elif score != points:
            problems.append(f"{cell} got {score}/{points}:\n{text}")
    return problems


def full_marks_problems(namespace, test_cells, skip=()):
    """The test cells (but `skip`) on which the answers in `namespace` do not get every point, with
    what they printed and raised: [] for a right answer, however it is written."""
    problems = []
    for cell, (source, points) in test_cells.items():
        if cell in skip:
            continue
        with np.errstate(all="ignore"):
            score, text = run_cell(source, dict(namespace), points)
        if score != points:
            problems.append(f"{cell} got {score}/{points}:\n{text}")
    return problems
