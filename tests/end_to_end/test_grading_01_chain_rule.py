from grading_suite import GradingSuite


class TestChainRuleGrading(GradingSuite):
    assignment = "01_chain_rule"
