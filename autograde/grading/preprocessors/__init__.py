"""The nbgrader preprocessors this course adds, one per module as nbgrader lays out its own.

nbgrader_config.py composes them with nbgrader's, so `nbgrader autograde` and
`python -m autograde grade` grade alike:

  sanitize:  RestoreGradedCells (before DeduplicateIds), ScanStudentCode (after OverwriteCells)
  autograde: SandboxedExecute (in place of Execute), StderrIsNotFailure, LimitOutputSize
  feedback:  MarkUngradedAnswers (after GetGrades), DropCauseOutputs, HideHiddenTests, ShowFlags
             (each a FeedbackPagePreprocessor: the HTML exporter's config fits them)
  every page nbconvert's HTMLExporter renders (feedback, formgrader): RubricForGraders (the
             formgrader's grading page only), MathAsMathML
"""
from autograde.grading.preprocessors.drop_cause_outputs import DropCauseOutputs
from autograde.grading.preprocessors.hide_hidden_tests import HideHiddenTests
from autograde.grading.preprocessors.limit_output_size import LimitOutputSize
from autograde.grading.preprocessors.mark_ungraded_answers import MarkUngradedAnswers
from autograde.grading.preprocessors.math_as_mathml import MathAsMathML
from autograde.grading.preprocessors.restore_graded_cells import RestoreGradedCells
from autograde.grading.preprocessors.rubric_for_graders import RubricForGraders
from autograde.grading.preprocessors.sandboxed_execute import SandboxedExecute
from autograde.grading.kernels.manager import SandboxKernelManager
from autograde.grading.preprocessors.scan_student_code import ScanStudentCode
from autograde.grading.preprocessors.show_flags import ShowFlags
from autograde.grading.preprocessors.stderr_is_not_failure import StderrIsNotFailure

__all__ = [
    "DropCauseOutputs", "HideHiddenTests", "LimitOutputSize", "MarkUngradedAnswers", "MathAsMathML",
    "RestoreGradedCells", "RubricForGraders", "SandboxKernelManager", "SandboxedExecute", "ScanStudentCode", "ShowFlags", "StderrIsNotFailure",
]
