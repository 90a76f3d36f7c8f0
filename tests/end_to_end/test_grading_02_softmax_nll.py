from grading_suite import GradingSuite


class TestSoftmaxNllGrading(GradingSuite):
    assignment = "02_softmax_nll"
