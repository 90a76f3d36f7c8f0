from fresh_kernels_suite import FreshKernelsSuite
from grading_suite import GradingSuite
from pipeline_suite import PipelineSuite
from report_suite import ReportSuite
from written_answers_suite import WrittenAnswersSuite


class TestChainRuleGrading(GradingSuite, PipelineSuite, FreshKernelsSuite, WrittenAnswersSuite, ReportSuite):
    """Chapter 1's sample class graded by serial nbgrader, and by the pipeline with the bad inputs
    (with forked kernels, the default, and with fresh ones), its written answers scored by hand, and
    the mistake report. PostgreSQL and Dask: test_grading_at_scale.py."""
    assignment = "01_chain_rule"
    serial_nbgrader = True  # the baseline the pipeline (forked and fresh kernels) is compared with
