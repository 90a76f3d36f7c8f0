from grading_suite import GradingSuite


class TestNormalizationGrading(GradingSuite):
    assignment = "06_normalization"
