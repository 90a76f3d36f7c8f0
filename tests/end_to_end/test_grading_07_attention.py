from grading_suite import GradingSuite


class TestAttentionGrading(GradingSuite):
    assignment = "07_attention"
