from grading_suite import GradingSuite
from pipeline_suite import PipelineSuite


class TestChainRuleGrading(GradingSuite, PipelineSuite):
    """Chapter 1's sample class graded by serial nbgrader, and the pipeline on it plus the bad inputs."""
    assignment = "01_chain_rule"
