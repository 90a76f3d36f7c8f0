"""Where a course's files are: the assignments and their notebooks, the masters, a scratch course.

Every nbgrader run in the tests and the demo happens in a scratch course folder (its own
gradebook, its own submitted/ and autograded/), so they never touch the repository's files.
"""
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# assignment id -> notebook name (without .ipynb)
ASSIGNMENTS = {
    "01_chain_rule": "chain_rule",
    "02_softmax_nll": "softmax_nll",
    "03_mlp_backprop": "mlp_backprop",
    "04_label_smoothing": "label_smoothing",
    "05_autograd_engine": "autograd_engine",
    "06_normalization": "normalization",
    "07_attention": "attention",
}

# What an assignment's kernels import on first use beyond what every kernel does (the grader's
# digits, for instance): a warm fork server loads them once for the kernels it forks.
DIGITS = ("scipy.special", "sklearn.datasets", "sklearn.model_selection")
FIRST_USE_IMPORTS = {
    "02_softmax_nll": ("scipy.special",),
    "03_mlp_backprop": DIGITS,
    "04_label_smoothing": DIGITS,
    "05_autograd_engine": DIGITS,
    "06_normalization": DIGITS,
}


def available_assignments(root=ROOT):
    """The assignments whose master notebook exists, in course order."""
    return [a for a, nb in ASSIGNMENTS.items() if (root / "source" / a / f"{nb}.ipynb").exists()]


def notebook_path(root, folder, assignment, student=None):
    parts = [folder] + ([student] if student else []) + [assignment, f"{ASSIGNMENTS[assignment]}.ipynb"]
    return Path(root).joinpath(*parts)


def make_course(workdir, assignments, root=ROOT):
    """A scratch course in `workdir` with the config and the masters of `assignments`."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "nbgrader_config.py", workdir / "nbgrader_config.py")
    for assignment in assignments:
        shutil.copytree(root / "source" / assignment, workdir / "source" / assignment, dirs_exist_ok=True)
    return workdir


def manual_grade_ids(assignment, root=ROOT):
    """Grade ids of the cells a person grades (written answers: graded solution cells) in the master."""
    import nbformat

    master = nbformat.read(notebook_path(root, "source", assignment), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"] for c in master.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.metadata["nbgrader"].get("solution")}


def submit(workdir, assignment, student, notebook):
    """Place a student's notebook (a NotebookNode, or raw bytes/str for broken files)."""
    import nbformat

    path = notebook_path(workdir, "submitted", assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, (bytes, str)):
        path.write_bytes(notebook.encode() if isinstance(notebook, str) else notebook)
    else:
        nbformat.write(notebook, path)
    return path


