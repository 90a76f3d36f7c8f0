from grading_suite import GradingSuite


class TestMlpBackpropGrading(GradingSuite):
    assignment = "03_mlp_backprop"
