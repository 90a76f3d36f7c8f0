from grading_suite import GradingSuite


class TestLabelSmoothingGrading(GradingSuite):
    assignment = "04_label_smoothing"
