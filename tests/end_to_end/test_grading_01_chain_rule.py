from grading_suite import GradingSuite
from pipeline_suite import PipelineSuite
from written_answers_suite import WrittenAnswersSuite


class TestChainRuleGrading(GradingSuite, PipelineSuite, WrittenAnswersSuite):
    """Chapter 1's sample class graded by serial nbgrader, the pipeline on it plus the bad inputs,
    and its written answers scored by hand."""
    assignment = "01_chain_rule"
