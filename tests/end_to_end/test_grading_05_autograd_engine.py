from grading_suite import GradingSuite


class TestAutogradEngineGrading(GradingSuite):
    assignment = "05_autograd_engine"
