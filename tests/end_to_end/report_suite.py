"""The mistake report on a chapter's sample class plus the bad inputs, graded by the pipeline: every
submission's recorded cause is the mistake it was built with, the report's counts are the class's
make-up, and the page renders in headless Chromium with every figure decoded (a screenshot is kept
in test-artifacts/).

ReportSuite is mixed into a chapter's test class next to PipelineSuite (it uses its `pipeline` fixture).
"""
import csv
import re
import shutil
from collections import Counter

import pytest

from autograde.cause import CAUSES
from autograde.grading.inspection.causes import collect, submission_losses
from autograde.grading.cli import main as cli
from autograde.grading.course.layout import ROOT, manual_grade_ids
from autograde.grading.gradebook.database import class_grades
from autograde.grading.gradebook.records import read_record
from autograde.grading.reports.feedback import generate
from autograde.grading.reports.report import write
from autograde.grading.demo.samples import variants
from autograde.grading.demo.samples.bad_inputs import BAD_INPUTS
from offline_browser import blocking_violations, offline_browser, open_offline

ARTIFACTS = ROOT / "test-artifacts"

# {assignment: {variant: {grade cell: cause}}}: the mistake each sample was built with. A variant
# not listed loses no points; "blank" loses every cell, not implemented.
EXPECTED = {
    "01_chain_rule": {
        "tape_on_the_class": {"test_tape": "specific"},
        "fork_overwritten": {"test_staged": "fork_overwritten"},
        "autograd_in_backward": {"test_staged": "autograd"},
        "conv_dw1_transposed": {"test_conv_net": "transposed"},
        "quadratic_form_symmetric": {"test_quadratic_form_grad": "specific"},
        "jvp_not_vjp": {"test_matvec_vjp": "transposed"},
        "broadcast_not_summed": {"test_broadcast_add_vjp": "broadcast_not_summed"},
    },
    "02_softmax_nll": {
        "unstable_softmax": {cell: "nan" for cell in ["test_softmax", "test_cross_entropy_grad", "test_softmax_vjp",
                                                      "test_log_softmax_vjp", "test_softmax_jacobian"]},
        "softmax_global_max": {cell: "nan" for cell in ["test_softmax", "test_cross_entropy_grad",
                                                        "test_softmax_vjp", "test_log_softmax_vjp"]},
        "softmax_wrong_axis": {cell: "specific" for cell in ["test_softmax", "test_cross_entropy_grad",
                                                             "test_softmax_vjp", "test_log_softmax_vjp"]},
        "library_softmax": {"test_softmax": "specific"},
        "autograd_in_forward": {cell: "autograd" for cell in ["test_softmax", "test_cross_entropy_grad",
                                                              "test_softmax_vjp", "test_log_softmax_vjp",
                                                              "test_softmax_jacobian"]},
        "nll_per_example": {"test_nll_loss": "shape", "test_cross_entropy": "shape"},
        "grad_missing_1_over_n": {"test_cross_entropy_grad": "missing_1_over_n"},
        "grad_forgot_onehot": {"test_cross_entropy_grad": "specific"},
        "autograd_in_backward": {"test_cross_entropy_grad": "autograd"},
        "vjp_naive_exp": {"test_softmax_vjp": "nan"},
        "log_softmax_vjp_transposed": {"test_log_softmax_vjp": "transposed"},
        "staged_fork_missed": {"test_staged": "fork_overwritten"},
        "numerical_gradient": {cell: "specific" for cell in ["test_cross_entropy_grad", "test_softmax_vjp",
                                                             "test_log_softmax_vjp", "test_staged"]},
        "checks_vjps": {cell: "specific" for cell in ["test_softmax_vjp", "test_log_softmax_vjp"]},
    },
}
# samples whose backward passes are timed: under the pipeline suite's tight limits (4 s a cell) the
# time limit may stop them before the cost check does, so their cause is the time's to decide
TIMED = {"numerical_gradient"}
# bad inputs whose every lost cell has one cause (the cells depend on where the kernel stopped)
EVERY_LOST_CELL = {"endless_loop": "timeout", "kernel_exit": "kernel_died", "kernel_segfault": "kernel_died",
                   "edited_tests": "not_implemented"}


def anonymous_ids():
    """Student ids of the sample class that cannot be mistaken for a word or a cause code on the page."""
    names = [v.name for a in EXPECTED for v in variants(a)] + [b.name for b in BAD_INPUTS]
    return sorted({n for n in names if "_" in n and n not in CAUSES})


@pytest.mark.nbgrader
class ReportSuite:
    assignment = None

    @pytest.fixture(scope="class")
    @classmethod
    def mistakes(cls, pipeline):
        course = pipeline[0]
        everyone = [g for g in class_grades(course, [cls.assignment])]
        losses = {g.student: submission_losses(course, g, read_record(course, g.assignment, g.student))
                  for g in everyone}
        return losses, {g.student: g for g in everyone}, collect(course, [cls.assignment])[cls.assignment]

    def expected(self, student, grades, record):
        """{cell: cause} the submission must have recorded, or a cause for every cell it lost."""
        graded_cells = [cell.name for cell in grades.cells]
        if record is not None and not record.graded:
            return {cell: "not_graded" for cell in graded_cells}
        if student == "blank":
            return {cell: "not_implemented" for cell in graded_cells}
        if student in EVERY_LOST_CELL:
            return EVERY_LOST_CELL[student]
        if student in {b.name for b in BAD_INPUTS} | TIMED:
            return None  # whether the others keep their points is the PipelineSuite's to check
        return EXPECTED.get(self.assignment, {}).get(student, {})

    def test_each_submission_records_the_mistake_it_was_built_with(self, pipeline, mistakes):
        course = pipeline[0]
        losses, grades, _ = mistakes
        written = manual_grade_ids(self.assignment)
        problems = []
        for student, lost in sorted(losses.items()):
            got = {cell: loss.cause for cell, loss in lost.items()}
            want = self.expected(student, grades[student], read_record(course, self.assignment, student))
            if isinstance(want, str):
                if not got or set(got.values()) != {want}:
                    problems.append(f"{student}: expected every lost cell to be {want}, got {got}")
            elif want is not None and got != want:
                # a written answer's own loss (not answered) is not the sample's mistake
                if {c: v for c, v in got.items() if c not in written} != want:
                    problems.append(f"{student}: expected {want}, got {got}\n" + "\n".join(
                        f"   {cell}: {loss.message[:300]}" for cell, loss in lost.items()))
        assert not problems, "\n".join(problems)

    def test_the_reports_counts_are_the_class_make_up(self, pipeline, mistakes, tmp_path):
        course, _, _, scores = pipeline
        losses, _, summary = mistakes
        make_up = Counter((cell, loss.cause) for lost in losses.values() for cell, loss in lost.items())
        assert summary.counts() == dict(make_up)
        written = manual_grade_ids(self.assignment)
        for cell in summary.cells.values():  # each submission that lost points on a cell, counted once
            lost = [s for s, cells in scores.items() if cells[cell.cell][0] < cells[cell.cell][1]]
            waiting = cell.waiting if cell.cell in written else 0
            assert sum(cell.causes.values()) == len(lost) - waiting, cell.cell
        _, csv_path, _ = write(course, tmp_path, [self.assignment])
        rows = {(r["cell"], r["cause"]): int(r["count"]) for r in csv.DictReader(open(csv_path))}
        assert rows == dict(make_up)
        assert {r["assignment"] for r in csv.DictReader(open(csv_path))} == {self.assignment}

    def test_written_answers_waiting_are_not_mistakes(self, mistakes, tmp_path, pipeline):
        losses, _, summary = mistakes
        written = manual_grade_ids(self.assignment)
        assert all(summary.cells[cell].waiting > 0 for cell in written)
        page = write(pipeline[0], tmp_path, [self.assignment])[0].read_text()
        assert "needs grading" in page
        assert all(cell not in losses["correct"] for cell in written)
        # a written answer's row draws no failure-rate bar, however few were scored
        rows = dict(re.findall(r"<tr><td>(\w+)</td>(.*?)</tr>", page, re.S))  # the table of graded cells
        assert set(written) <= set(rows)
        for cell in written:
            assert "class='bar'" not in rows[cell] and "%" not in rows[cell], rows[cell]
        assert any("class='bar'" in row for cell, row in rows.items() if cell not in written)

    def test_the_page_renders_in_chromium_with_every_figure(self, pipeline, tmp_path):
        status = cli(["report", "--course", str(pipeline[0]), "-a", self.assignment, "--out", str(tmp_path)])
        assert status == 0
        page_path = tmp_path / "report.html"
        text = page_path.read_text()
        leaked = [name for name in anonymous_ids() if re.search(rf"\b{re.escape(name)}\b", text)]
        assert not leaked, f"student ids on the page: {leaked}"
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"report_{self.assignment}.png"
        with offline_browser() as browser:
            page = open_offline(browser, page_path)
            images = page.evaluate("[...document.images].map(i => ({ok: i.complete, w: i.naturalWidth}))")
            body = page.inner_text("body")
            page.screenshot(path=str(shot), full_page=True)
        assert len(images) == 2, images  # the score histogram and the cause x cell heat map
        assert all(image["ok"] and image["w"] > 0 for image in images), images
        assert "What the class got wrong" in body and self.assignment in body
        for cell in ("needs grading", "test_staged", "not_implemented"):
            assert cell in body
        assert shot.stat().st_size > 10_000

    def test_the_pages_the_course_makes_pass_axe(self, pipeline, tmp_path):
        """The report, a graded feedback page with a mistake's message, flags and written answers
        waiting, and the page of a submission that could not be graded: no critical or serious
        violation of axe-core's rules."""
        course = tmp_path / "course"
        shutil.copytree(pipeline[0], course)
        students = ["fork_overwritten", "invalid_json"]
        assert generate(course, [self.assignment], students, workers=1).failed == []
        assert cli(["report", "--course", str(course), "-a", self.assignment, "--out", str(tmp_path)]) == 0
        pages = [tmp_path / "report.html", *sorted((course / "feedback").rglob("*.html"))]
        assert len(pages) == 3, pages
        found = {}
        with offline_browser() as browser:
            for path in pages:
                page = open_offline(browser, path)
                assert page.evaluate("document.documentElement.lang") == "en", path
                found[path.name] = blocking_violations(page)
        assert not any(found.values()), "\n".join(f"{name}: {line}" for name, lines in found.items() for line in lines)
