from dask_suite import DaskSuite
from fresh_kernels_suite import FreshKernelsSuite
from grading_suite import GradingSuite
from pipeline_suite import PipelineSuite
from postgres_suite import PostgresSuite
from report_suite import ReportSuite
from written_answers_suite import WrittenAnswersSuite


class TestChainRuleGrading(GradingSuite, PipelineSuite, FreshKernelsSuite, WrittenAnswersSuite, PostgresSuite, DaskSuite,
                           ReportSuite):
    """Chapter 1's sample class graded by serial nbgrader, the pipeline on it plus the bad inputs
    (with forked kernels, the default, and with fresh ones), its written answers scored by hand, the gradebook on
    PostgreSQL, grading on a Dask cluster, and the mistake report."""
    assignment = "01_chain_rule"
    serial_nbgrader = True  # the baseline the pipeline, fresh kernels, PostgreSQL and Dask are compared with
