"""The pipeline end to end on a chapter's sample class plus every bad input (real nbgrader, real
kernels, two workers, short limits): the scores equal serial `nbgrader autograde` (the serial run
is the GradingSuite's, shared), every bad input is graded or reported without touching any other
grade, no stale grade survives, feedback hides the hidden tests, the CSVs have a row per graded cell.

PipelineSuite is mixed into one chapter's test class next to GradingSuite (test_grading_01_chain_rule.py).
"""
import csv
import html
import os
import re
import shutil

import nbformat
import pytest

from autograde.grading.cli import main as cli
from autograde.grading.course import (
    ROOT, cell_scores, generate_release, make_course, manual_grade_ids, notebook_path, submit,
)
from autograde.grading.reports.export import export
from autograde.grading.reports.feedback import generate
from autograde.grading.runner import WORKER_DIED, Settings, grade_class
from autograde.grading.samples import variants
from autograde.grading.samples.bad_inputs import BAD_INPUTS

# short enough for the endless loop, long enough for a loaded 2-core machine
LIMITS = Settings(workers=2, cell_timeout=15, notebook_timeout=30, memory_mb=1536, progress=False)


def page_text(path):
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


@pytest.mark.nbgrader
class PipelineSuite:
    assignment = None  # set by the chapter's test class

    @pytest.fixture(scope="class")
    @classmethod
    def pipeline(cls, tmp_path_factory):
        assignment = cls.assignment
        course = make_course(tmp_path_factory.mktemp("pipeline"), [assignment])
        generate_release(course, assignment)
        samples = [(v.name, v.build(assignment)) for v in variants(assignment)]
        samples += [(b.name, b.build(assignment)) for b in BAD_INPUTS]
        files = {student: submit(course, assignment, student, nb).read_bytes() for student, nb in samples}
        here = os.getcwd()
        os.chdir(course)  # graded from the course folder, as an instructor does: the tamper notebook finds it
        try:
            results = {r.student: r for r in grade_class(course, settings=LIMITS)}
        finally:
            os.chdir(here)
        return course, files, results, cell_scores(course, assignment)

    def test_parallel_scores_equal_serial_nbgrader(self, pipeline, graded):
        _, _, _, scores = pipeline
        serial = cell_scores(graded[1], self.assignment)
        assert serial and {s: scores[s] for s in serial} == serial

    @pytest.mark.parametrize("bad", BAD_INPUTS, ids=[b.name for b in BAD_INPUTS])
    def test_every_bad_input_is_graded_or_reported(self, pipeline, bad):
        course, _, results, scores = pipeline
        result = results[bad.name]
        letters = {flag["code"] for flag in result.flags}
        assert set(bad.flags) <= letters, (result.flags, result.reason)
        written = manual_grade_ids(self.assignment)  # a person scores those
        cells = {cell: score for cell, score in scores[bad.name].items() if cell not in written}
        total, maximum = sum(s for s, _ in cells.values()), sum(m for _, m in cells.values())
        if bad.name == "tamper":
            # Run as another user it cannot write the course; run as the grader it may find the course
            # and change it, and is then caught and undone (test_no_grade_but_its_own_changes).
            assert result.graded or "changed files outside its working copy" in result.reason
        elif bad.name == "kill_grader":
            # Sandboxed it cannot see the grader's process; unsandboxed it kills its worker, and only
            # its own submission goes down (test_no_grade_but_its_own_changes checks the others).
            assert result.graded or result.reason == WORKER_DIED
        elif not bad.graded:
            assert not result.graded and result.reason and total == 0
            assert not (course / "autograded" / bad.name / self.assignment).exists()
        else:
            assert result.graded, result.reason
        if bad.marks == "full":
            assert total == maximum, (cells, result.flags)
        elif bad.marks == "zero":
            assert total == 0, cells
        elif bad.marks == "some":
            assert 0 < total < maximum, cells

    def test_no_grade_but_its_own_changes(self, pipeline, graded):
        """The tamper notebook zeroed the gradebook and erased a classmate's file: all undone."""
        course, files, results, scores = pipeline
        serial = cell_scores(graded[1], self.assignment)
        for student, content in files.items():
            assert notebook_path(course, "submitted", self.assignment, student).read_bytes() == content, student
        for student, cells in serial.items():
            assert scores[student] == cells, student
        written = manual_grade_ids(self.assignment)  # a person scores those
        for variant in variants(self.assignment):
            if not variant.loses:
                assert all(score == maximum for cell, (score, maximum) in scores[variant.name].items()
                           if cell not in written), variant.name

    def test_limits_are_reported_as_such(self, pipeline):
        course, _, results, _ = pipeline
        assert results["endless_loop"].seconds < LIMITS.notebook_timeout + 30
        assert any("memory" in f["message"] for f in results["memory_bomb"].flags)
        assert any("segmentation fault" in f["message"] for f in results["kernel_segfault"].flags)
        graded_nb = notebook_path(course, "autograded", self.assignment, "huge_output")
        assert graded_nb.stat().st_size < 500_000

    def test_a_failed_regrade_leaves_no_stale_grade(self, pipeline, tmp_path):
        course = tmp_path / "course"
        shutil.copytree(pipeline[0], course)
        written = manual_grade_ids(self.assignment)
        assert all(s == m for cell, (s, m) in cell_scores(course, self.assignment)["correct"].items() if cell not in written)
        notebook_path(course, "submitted", self.assignment, "correct").write_text('{"cells": [')  # replaced by a broken file
        [result] = grade_class(course, [self.assignment], ["correct"], LIMITS)
        assert not result.graded and "not valid JSON" in result.reason
        assert all(score == 0 for score, _ in cell_scores(course, self.assignment)["correct"].values())
        assert not notebook_path(course, "autograded", self.assignment, "correct").exists()
        grades_csv, _, _ = export(course, course / "grades")
        row = [r for r in csv.DictReader(open(grades_csv)) if r["student"] == "correct"][0]
        assert float(row["score"]) == 0 and row["graded"] == "False" and "JSON" in row["reason"]

    def test_feedback_shows_results_and_messages_but_no_hidden_test(self, pipeline, tmp_path):
        course = tmp_path / "course"
        shutil.copytree(pipeline[0], course)
        students = ["fork_overwritten", "invalid_json", "deleted_cells"]
        assert generate(course, [self.assignment], students) == 3
        master = nbformat.read(notebook_path(ROOT, "source", self.assignment), as_version=4)
        visible = nbformat.read(notebook_path(ROOT, "release", self.assignment), as_version=4)
        shown_anyway = {line.strip() for cell in visible.cells for line in cell.source.splitlines()}
        hidden_lines = set()
        for cell in master.cells:
            block = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
            hidden_lines |= {line.strip() for part in block for line in part.splitlines()}
        hidden_lines = {line for line in hidden_lines if line and line not in shown_anyway}
        assert hidden_lines
        feedback = course / "feedback"
        mistake = page_text(next((feedback / "fork_overwritten" / self.assignment).glob("*.html")))
        phrase = next(v for v in variants(self.assignment) if v.name == "fork_overwritten").loses
        assert all(p in mistake for p in phrase.values()), "the failure message is missing"
        for student in ("fork_overwritten", "deleted_cells"):
            text = page_text(next((feedback / student / self.assignment).glob("*.html")))
            leaked = [line for line in hidden_lines if line in text]
            assert not leaked, f"{student}: hidden test code in the feedback: {leaked[:3]}"
        assert "restored from the release" in page_text(next((feedback / "deleted_cells" / self.assignment).glob("*.html")))
        not_graded = page_text(feedback / "invalid_json" / self.assignment / "not_graded.html")
        assert "could not be graded" in not_graded and "JSON" in not_graded

    def test_export_has_a_row_per_student_and_per_graded_cell(self, pipeline, tmp_path):
        course, files, _, scores = pipeline
        grades_csv, cells_csv, means = export(course, tmp_path)
        grades = list(csv.DictReader(open(grades_csv)))
        cells = list(csv.DictReader(open(cells_csv)))
        assert {r["student"] for r in grades} == set(files)
        assert len(cells) == sum(len(c) for c in scores.values())
        autograd = [r for r in cells if r["student"] == "autograd_in_backward" and r["cell"] == "test_staged"]
        assert autograd and float(autograd[0]["score"]) < float(autograd[0]["max_score"])
        assert all(0 <= mean <= maximum for mean, maximum in means.values())

    def test_command_line_grades_a_student_and_prints_the_table(self, pipeline, tmp_path, capsys):
        course = tmp_path / "course"
        shutil.copytree(pipeline[0], course)
        status = cli(["grade", "--course", str(course), "-a", self.assignment,
                      "-s", "not_a_notebook", "-s", "invalid_json", "--no-progress"])
        out = capsys.readouterr().out
        assert status == 0  # students' broken files are not the instructor's error
        assert re.search(r"Not graded \(\d+\)", out) and "class mean" in out
        assert "not_a_notebook / " in out and "invalid_json / " in out
        assert "correct" in out  # the table shows the whole class, not only the re-graded rows
