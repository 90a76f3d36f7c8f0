"""The nbgrader preprocessors this course adds, one per module as nbgrader lays out its own.

nbgrader_config.py composes them with nbgrader's, so `nbgrader autograde` and
`python -m autograde grade` grade alike:

  sanitize:  RestoreGradedCells (before DeduplicateIds), ScanStudentCode (after OverwriteCells)
  autograde: SandboxedExecute (in place of Execute), StderrIsNotFailure, LimitOutputSize
  feedback:  MarkUngradedAnswers (after GetGrades), DropCauseOutputs, HideHiddenTests, ShowFlags
"""
from .drop_cause_outputs import DropCauseOutputs
from .hide_hidden_tests import HideHiddenTests
from .limit_output_size import LimitOutputSize
from .mark_ungraded_answers import MarkUngradedAnswers
from .restore_graded_cells import RestoreGradedCells
from .sandboxed_execute import SandboxedExecute, SandboxKernelManager
from .scan_student_code import ScanStudentCode
from .show_flags import ShowFlags
from .stderr_is_not_failure import StderrIsNotFailure

__all__ = [
    "DropCauseOutputs", "HideHiddenTests", "LimitOutputSize", "MarkUngradedAnswers", "RestoreGradedCells",
    "SandboxKernelManager", "SandboxedExecute", "ScanStudentCode", "ShowFlags", "StderrIsNotFailure",
]
