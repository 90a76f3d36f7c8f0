"""nbgrader configuration for the whole Backprop Lab course (run nbgrader from this folder).

`nbgrader autograde` and `python -m autograde grade` both read this file, so they grade alike;
the course's own preprocessors (autograde/grading/preprocessors/) sit in nbgrader's lists below.
"""
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades, IgnorePattern,
    LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades,
)

from autograde.grading.preprocessors import (
    HideHiddenTests, LimitOutputSize, MarkUngradedAnswers, RestoreGradedCells, SandboxedExecute, ScanStudentCode,
    ShowFlags,
    StderrIsNotFailure,
)

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

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
# Student code runs with a memory cap (a memory bomb gets MemoryError, not the machine) and may
# not write files larger than this. The pipeline also runs it as an unprivileged user when root.
c.SandboxKernelManager.memory_mb = 4096
c.SandboxKernelManager.file_mb = 100

# A student who deletes a graded test cell gets it back (and is graded on it), not a free pass.
# RestoreGradedCells does that (and restores locked cells such as the setup too). nbgrader's own
# add_missing_cells stays off: it raises KeyError when the cell before a deleted one is not a
# grade cell, and again after DeduplicateIds has emptied a duplicate's metadata.
c.OverwriteCells.add_missing_cells = False

c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    RestoreGradedCells,   # report duplicated/retyped/edited cells, put deleted ones back
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    CheckCellMetadata,
    ScanStudentCode,      # flag autograd calls and patches of the checks, read outside the kernel
]

# Warnings and progress bars on stderr must not zero a correct answer (StderrIsNotFailure).
c.Autograde.autograde_preprocessors = [
    SandboxedExecute,     # nbgrader's Execute + memory cap, notebook time budget, kernel deaths graded
    StderrIsNotFailure,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutputSize,      # megabytes on one line (LimitOutput only counts lines)
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Feedback shows every test's result and message, never the hidden test code; a written answer
# that no person has scored yet says so instead of showing 0.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    MarkUngradedAnswers,
    HideHiddenTests,
    ShowFlags,
    CSSHTMLHeaderPreprocessor,
]

c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
