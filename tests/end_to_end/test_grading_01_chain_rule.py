from dask_suite import DaskSuite
from forked_pipeline_suite import ForkedPipelineSuite
from grading_suite import GradingSuite
from pipeline_suite import PipelineSuite
from postgres_suite import PostgresSuite
from report_suite import ReportSuite
from written_answers_suite import WrittenAnswersSuite


class TestChainRuleGrading(GradingSuite, PipelineSuite, ForkedPipelineSuite, WrittenAnswersSuite, PostgresSuite, DaskSuite,
                           ReportSuite):
    """Chapter 1's sample class graded by serial nbgrader, the pipeline on it plus the bad inputs
    (with fresh and with forked kernels), its written answers scored by hand, the gradebook on
    PostgreSQL, grading on a Dask cluster, and the mistake report."""
    assignment = "01_chain_rule"
