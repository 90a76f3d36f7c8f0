"""The pipeline with fresh kernels (--kernels fresh: a new kernel process per notebook, as plain
nbgrader starts them) on three of a chapter's samples (right, blank, one mistake) and every bad
input where a kernel's own process matters. The scores equal serial `nbgrader autograde`'s
(GradingSuite's run) and the pipeline's with forked kernels, the default (PipelineSuite's run,
which is compared with serial nbgrader on every sample), for every student it grades. Every bad
input gets what it must (kernel exit, segfault, memory bomb, huge output, tampering, killing the
grader, the sandbox probes, which reach nothing: a fresh kernel sees only bubblewrap's init). The
bad inputs that only nbgrader or the checks see (broken files, edited cells, an endless loop under
the notebook budget, patched checks) are graded alike whatever started the kernel: PipelineSuite's.

FreshKernelsSuite is mixed into one chapter's test class next to GradingSuite and PipelineSuite.
"""
import dataclasses
import sys
import sysconfig
from pathlib import Path

import pytest

from autograde.grading.gradebook.database import cell_scores
from autograde.grading.course.layout import manual_grade_ids, notebook_path
from autograde.grading.demo.samples import variants
from autograde.grading.demo.samples.bad_inputs import BAD_INPUTS, PROBES
from autograde.grading.kernels.sandbox import PACKAGE_DIR
from grading_suite import PIPELINE
from pipeline_suite import grade_hostile_class, probe_report

FRESH = dataclasses.replace(PIPELINE, kernels="fresh")  # no endless loop here: the generous limits
PROCESS_BAD_INPUTS = [b for b in BAD_INPUTS if b.name in
                      {"kernel_exit", "kernel_segfault", "memory_bomb", "huge_output", "tamper", "kill_grader", *PROBES}]


def fresh_samples(assignment):
    """The right answer, the blank release and the first sample that loses points."""
    mistake = next(v.name for v in variants(assignment) if v.loses and not v.blank)
    return ("correct", "blank", mistake)


@pytest.mark.nbgrader
class FreshKernelsSuite:
    assignment = None  # set by the chapter's test class

    @pytest.fixture(scope="class")
    @classmethod
    def fresh(cls, tmp_path_factory, released):
        course = released(tmp_path_factory.mktemp("fresh"), cls.assignment)
        course, _, results, scores = grade_hostile_class(course, cls.assignment, FRESH, PROCESS_BAD_INPUTS,
                                                         samples=fresh_samples(cls.assignment))
        return course, results, scores

    def test_fresh_scores_equal_serial_nbgrader(self, fresh, graded):
        _, _, scores = fresh
        serial = cell_scores(graded[1], self.assignment)
        students = fresh_samples(self.assignment)
        assert {s: scores[s] for s in students} == {s: serial[s] for s in students}

    def test_fresh_scores_equal_forked_kernels_for_every_student(self, fresh, pipeline):
        _, results, scores = fresh
        forked = pipeline[3]
        assert len(scores) == len(fresh_samples(self.assignment)) + len(PROCESS_BAD_INPUTS)
        assert scores == {student: forked[student] for student in scores}
        assert {s: r.graded for s, r in results.items()} == {s: pipeline[2][s].graded for s in results}

    @pytest.mark.parametrize("bad", PROCESS_BAD_INPUTS, ids=[b.name for b in PROCESS_BAD_INPUTS])
    def test_every_bad_input_is_graded_or_reported_with_fresh_kernels(self, fresh, bad):
        course, results, scores = fresh
        result = results[bad.name]
        assert set(bad.flags) <= {flag["code"] for flag in result.flags}, (result.flags, result.reason)
        written = manual_grade_ids(self.assignment)
        cells = {cell: score for cell, score in scores[bad.name].items() if cell not in written}
        total, maximum = sum(s for s, _ in cells.values()), sum(m for _, m in cells.values())
        assert result.graded == bad.graded, result.reason
        if not bad.graded:
            assert total == 0 and not (course / "autograded" / bad.name / self.assignment).exists()
        if bad.marks == "full":
            assert total == maximum, (cells, result.flags)
        elif bad.marks == "zero":
            assert total == 0, cells
        elif bad.marks == "some":
            assert 0 < total < maximum, cells

    def test_limits_and_deaths_are_reported_as_with_forked_kernels(self, fresh):
        course, results, _ = fresh
        assert any("memory" in f["message"] for f in results["memory_bomb"].flags)
        assert any("segmentation fault (SIGSEGV)" in f["message"] for f in results["kernel_segfault"].flags)
        assert any("exited with status 3" in f["message"] for f in results["kernel_exit"].flags)
        assert notebook_path(course, "autograded", self.assignment, "huge_output").stat().st_size < 500_000
        for student, result in results.items():
            assert {"bubblewrap", "landlock", "unprivileged-user", "no-network"} <= set(result.protections), student

    def test_sandbox_probes_reach_nothing_from_a_fresh_kernel(self, fresh):
        course, _, _ = fresh
        report = {name: probe_report(course, self.assignment, name) for name in PROBES}
        python = (sys.base_prefix, sysconfig.get_path("purelib"), "/usr/")
        assert all(path.startswith(python) or path.startswith("./") for path in report["search_disk"]), report
        assert report["read_classmate"] == [] and report["open_sockets"] == [] and report["write_outside"] == []
        # it sees bwrap's init (pid 1 of its namespace) and nothing else; even that one it cannot signal
        assert set(report["list_processes"]["seen"]) <= {"1 bwrap"} and report["list_processes"]["signalled"] == []
        for folder in (course, Path(course) / "submitted", Path(PACKAGE_DIR), Path(sys.base_prefix), Path("/"),
                       Path("/root"), Path("/work"), Path("/etc"), Path("/var/tmp")):
            assert not (folder / "sandbox-escape.txt").exists(), folder
