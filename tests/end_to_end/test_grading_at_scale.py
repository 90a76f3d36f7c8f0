import pytest

from autograde.grading.scheduling.runner import grade_class
from dask_suite import DaskSuite
from grading_suite import PIPELINE, submit_variants
from postgres_suite import PostgresSuite


@pytest.mark.nbgrader
class TestChainRuleAtScale(PostgresSuite, DaskSuite):
    """Chapter 1's sample class graded with the gradebook on PostgreSQL and on a Dask cluster, each
    compared with `baseline`: the same class graded by local workers on SQLite, the pipeline whose
    scores test_grading_01_chain_rule.py compares with serial nbgrader's. A file of its own, so that
    two test workers share chapter 1's grading runs."""
    assignment = "01_chain_rule"

    @pytest.fixture(scope="class")
    @classmethod
    def baseline(cls, tmp_path_factory, released):
        course = submit_variants(released(tmp_path_factory.mktemp("baseline"), cls.assignment), cls.assignment)
        results = grade_class(course, settings=PIPELINE)
        assert all(r.graded for r in results), [(r.student, r.reason) for r in results if not r.graded]
        return course
