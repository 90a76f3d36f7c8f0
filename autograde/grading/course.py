"""Where the course lives and how to drive real nbgrader on a copy of it.

Every nbgrader run here happens in a scratch course folder (its own gradebook, its own
submitted/ and autograded/), so tests and the demo never touch the repository's files.
Light to import (the command line reads it first): nbformat and nbgrader load where used.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

ROOT = Path(__file__).resolve().parents[2]

# assignment id -> notebook name (without .ipynb)
ASSIGNMENTS = {
    "01_chain_rule": "chain_rule",
    "02_softmax_nll": "softmax_nll",
    "03_mlp_backprop": "mlp_backprop",
    "04_label_smoothing": "label_smoothing",
    "05_autograd_engine": "autograd_engine",
}

# What an assignment's kernels import on first use beyond what every kernel does (the grader's
# digits, for instance): a warm fork server loads them once for the kernels it forks.
DIGITS = ("scipy.special", "sklearn.datasets", "sklearn.model_selection")
FIRST_USE_IMPORTS = {
    "02_softmax_nll": ("scipy.special",),
    "03_mlp_backprop": DIGITS,
    "04_label_smoothing": DIGITS,
    "05_autograd_engine": DIGITS,
}


EXCHANGE_VARIABLE = "BACKPROP_LAB_EXCHANGE"


def exchange_root(course):
    """The course's exchange: $BACKPROP_LAB_EXCHANGE, else <course>/exchange (a folder or a link)."""
    return Path(os.environ.get(EXCHANGE_VARIABLE) or Path(course).absolute() / "exchange").absolute()


class CourseError(RuntimeError):
    """The instructor's setup is wrong (not a student's file): the command exits non-zero."""


class NbgraderFailed(RuntimeError):
    """An nbgrader command itself failed (the course is broken, not a student)."""


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


def course_config(config_file, overrides=None):
    """The course's nbgrader config with `overrides` ({"Section.trait": value}) applied."""
    path = Path(config_file)
    config = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    extra = Config()
    for key, value in (overrides or {}).items():
        section, trait = key.rsplit(".", 1)
        target = extra
        for part in section.split("."):
            target = target[part]
        target[trait] = value
    config.merge(extra)
    return config


def put_interpreter_tools_on_path():
    """nbgrader runs `alembic` by name when it creates a gradebook; a virtual environment used
    without activating it (`.venv/bin/python -m ...`) has it only next to its interpreter."""
    tools = str(Path(sys.executable).parent)
    if tools not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = tools + os.pathsep + os.environ.get("PATH", "")


def nbgrader(workdir, *args, timeout=3600):
    """Run `nbgrader <args>` in `workdir` with this interpreter; raise NbgraderFailed on error."""
    put_interpreter_tools_on_path()
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=workdir,
        capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode != 0:
        raise NbgraderFailed(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def generate_release(workdir, assignment):
    """`nbgrader generate_assignment --force <assignment>`, run in this process (nbgrader's own
    converter with the course's config): source/ -> release/, the assignment into the gradebook."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    from .gradebook import stamped_in_process

    config = course_config(Path(workdir) / "nbgrader_config.py")
    config.CourseDirectory.root = str(Path(workdir).resolve())
    config.CourseDirectory.assignment_id = assignment
    here = os.getcwd()  # nbgrader changes into the course folder
    try:
        converter = GenerateAssignment(coursedir=CourseDirectory(config=config), config=config)
        converter.force = True
        with stamped_in_process():
            result = capture_log(converter)
    finally:
        os.chdir(here)
    if not result["success"]:
        raise NbgraderFailed(f"nbgrader generate_assignment {assignment} failed:\n{result.get('log', '')}\n"
                             f"{result.get('error', '')}")
    return notebook_path(workdir, "release", assignment)


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


def cell_scores(workdir, assignment):
    """{student: {grade cell id: (score, max_score)}} from the scratch course's gradebook."""
    from nbgrader.api import Gradebook

    scores = {}
    from .gradebook import db_url

    with Gradebook(db_url(workdir)) as gb:
        for submission in gb.assignment_submissions(assignment):
            cells = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    cells[grade.name] = (grade.score, grade.max_score)
            scores[submission.student.id] = cells
    return scores


def cell_messages(workdir, assignment, student):
    """{grade cell id: what the test printed and raised} for one autograded notebook."""
    import nbformat

    path = notebook_path(workdir, "autograded", assignment, student)
    nb = nbformat.read(path, as_version=4)
    messages = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            messages[meta["grade_id"]] = "\n".join(_output_text(out) for out in cell.get("outputs", []))
    return messages


def _output_text(out):
    if out.get("output_type") == "error":
        return f"{out.get('ename')}: {out.get('evalue')}"
    if out.get("output_type") == "stream":
        return out.get("text", "")
    return out.get("data", {}).get("text/plain", "")
