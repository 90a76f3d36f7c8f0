"""nbgrader configuration for the whole Backprop Lab course (run nbgrader from this folder)."""
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties, CheckCellMetadata, Execute, IgnorePattern, LimitOutput, SaveAutoGrades,
)

from autograde.nbgrader_ext import StderrIsNotFailure

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "backprop-lab"
c.CourseDirectory.assignment_id = ""  # name it on the command line
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.enforce_metadata = True

# A kernel with torch takes a few seconds to start; one cell may train a small network.
c.Execute.timeout = 120
c.Execute.startup_timeout = 120
c.Execute.interrupt_on_timeout = True

# A student who deletes a graded test cell gets it back (and is graded on it), not a free pass.
c.OverwriteCells.add_missing_cells = True

# Warnings and progress bars on stderr must not zero a correct answer (see autograde.nbgrader_ext).
c.Autograde.autograde_preprocessors = [
    Execute,
    StderrIsNotFailure,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
