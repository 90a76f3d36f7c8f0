"""The pipeline end to end on chapter 1's sample class plus every bad input (real nbgrader,
real kernels, two workers, short limits): the scores equal serial `nbgrader autograde`, every
bad input is graded or reported without touching any other grade, no stale grade survives,
feedback hides the hidden tests, the CSVs have a row per graded cell."""
import csv
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograde.grading.course import (
    ROOT, available_assignments, cell_scores, generate_release, make_course, nbgrader, notebook_path, submit,
)
from autograde.grading.reports.export import export
from autograde.grading.reports.feedback import generate
from autograde.grading.runner import Settings, grade_class
from autograde.grading.samples import variants
from autograde.grading.samples.bad_inputs import BAD_INPUTS

pytestmark = pytest.mark.nbgrader

ASSIGNMENT = "01_chain_rule" if "01_chain_rule" in available_assignments() else available_assignments()[0]
# short enough for the endless loop, long enough for a loaded 2-core machine
LIMITS = Settings(workers=2, cell_timeout=15, notebook_timeout=30, memory_mb=1536, progress=False)


def new_course(tmp_path_factory, name, bad_inputs):
    course = make_course(tmp_path_factory.mktemp(name), [ASSIGNMENT])
    generate_release(course, ASSIGNMENT)
    samples = [(v.name, v.build(ASSIGNMENT)) for v in variants(ASSIGNMENT)]
    samples += [(b.name, b.build(ASSIGNMENT)) for b in BAD_INPUTS] if bad_inputs else []
    files = {student: submit(course, ASSIGNMENT, student, nb).read_bytes() for student, nb in samples}
    return course, files


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course, files = new_course(tmp_path_factory, "pipeline", bad_inputs=True)
    here = os.getcwd()
    os.chdir(course)  # graded from the course folder, as an instructor does: the tamper notebook finds it
    try:
        results = {r.student: r for r in grade_class(course, settings=LIMITS)}
    finally:
        os.chdir(here)
    return course, files, results, cell_scores(course, ASSIGNMENT)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    course, _ = new_course(tmp_path_factory, "serial", bad_inputs=False)
    nbgrader(course, "autograde", ASSIGNMENT)
    return cell_scores(course, ASSIGNMENT)


def test_parallel_scores_equal_serial_nbgrader(graded, serial):
    _, _, _, scores = graded
    assert serial and {s: scores[s] for s in serial} == serial


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=[b.name for b in BAD_INPUTS])
def test_every_bad_input_is_graded_or_reported(graded, bad):
    course, _, results, scores = graded
    result = results[bad.name]
    letters = {flag["code"] for flag in result.flags}
    assert set(bad.flags) <= letters, (result.flags, result.reason)
    cells = scores[bad.name]
    total, maximum = sum(s for s, _ in cells.values()), sum(m for _, m in cells.values())
    if bad.name == "tamper":
        # Run as another user it cannot write the course; run as the grader it may find the course
        # and change it, and is then caught and undone (test_no_grade_but_its_own_changes).
        assert result.graded or "changed files outside its working copy" in result.reason
    elif not bad.graded:
        assert not result.graded and result.reason and total == 0
        assert not (Path(course) / "autograded" / bad.name / ASSIGNMENT).exists()
    else:
        assert result.graded, result.reason
    if bad.marks == "full":
        assert total == maximum, (cells, result.flags)
    elif bad.marks == "zero":
        assert total == 0, cells
    elif bad.marks == "some":
        assert 0 < total < maximum, cells


def test_no_grade_but_its_own_changes(graded, serial):
    """The tamper notebook zeroed the gradebook and erased a classmate's file: all undone."""
    course, files, results, scores = graded
    for student, content in files.items():
        assert notebook_path(course, "submitted", ASSIGNMENT, student).read_bytes() == content, student
    for student, cells in serial.items():
        assert scores[student] == cells, student
    for variant in variants(ASSIGNMENT):
        if not variant.loses:
            assert all(score == maximum for score, maximum in scores[variant.name].values()), variant.name


def test_limits_are_reported_as_such(graded):
    course, _, results, _ = graded
    assert results["endless_loop"].seconds < LIMITS.notebook_timeout + 30
    assert any("memory" in f["message"] for f in results["memory_bomb"].flags)
    assert any("segmentation fault" in f["message"] for f in results["kernel_segfault"].flags)
    graded_nb = notebook_path(course, "autograded", ASSIGNMENT, "huge_output")
    assert graded_nb.stat().st_size < 500_000


def test_a_failed_regrade_leaves_no_stale_grade(graded, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(graded[0], course)
    assert all(s == m for s, m in cell_scores(course, ASSIGNMENT)["correct"].values())
    notebook_path(course, "submitted", ASSIGNMENT, "correct").write_text('{"cells": [')  # replaced by a broken file
    [result] = grade_class(course, [ASSIGNMENT], ["correct"], LIMITS)
    assert not result.graded and "not valid JSON" in result.reason
    assert all(score == 0 for score, _ in cell_scores(course, ASSIGNMENT)["correct"].values())
    assert not notebook_path(course, "autograded", ASSIGNMENT, "correct").exists()
    grades_csv, _, _ = export(course, course / "grades")
    row = [r for r in csv.DictReader(open(grades_csv)) if r["student"] == "correct"][0]
    assert float(row["score"]) == 0 and row["graded"] == "False" and "JSON" in row["reason"]


def page_text(path):
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def test_feedback_shows_results_and_messages_but_no_hidden_test(graded, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(graded[0], course)
    students = ["fork_overwritten", "invalid_json", "deleted_cells"]
    assert generate(course, [ASSIGNMENT], students) == 3
    master = nbformat.read(notebook_path(ROOT, "source", ASSIGNMENT), as_version=4)
    visible = nbformat.read(notebook_path(ROOT, "release", ASSIGNMENT), as_version=4)
    shown_anyway = {line.strip() for cell in visible.cells for line in cell.source.splitlines()}
    hidden_lines = set()
    for cell in master.cells:
        block = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
        hidden_lines |= {line.strip() for part in block for line in part.splitlines()}
    hidden_lines = {line for line in hidden_lines if line and line not in shown_anyway}
    assert hidden_lines
    feedback = course / "feedback"
    mistake = page_text(next((feedback / "fork_overwritten" / ASSIGNMENT).glob("*.html")))
    phrase = next(v for v in variants(ASSIGNMENT) if v.name == "fork_overwritten").loses
    assert all(p in mistake for p in phrase.values()), "the failure message is missing"
    for student in ("fork_overwritten", "deleted_cells"):
        text = page_text(next((feedback / student / ASSIGNMENT).glob("*.html")))
        leaked = [line for line in hidden_lines if line in text]
        assert not leaked, f"{student}: hidden test code in the feedback: {leaked[:3]}"
    assert "restored from the release" in page_text(next((feedback / "deleted_cells" / ASSIGNMENT).glob("*.html")))
    not_graded = page_text(feedback / "invalid_json" / ASSIGNMENT / "not_graded.html")
    assert "could not be graded" in not_graded and "JSON" in not_graded


def test_export_has_a_row_per_student_and_per_graded_cell(graded, tmp_path):
    course, files, _, scores = graded
    grades_csv, cells_csv, means = export(course, tmp_path)
    grades = list(csv.DictReader(open(grades_csv)))
    cells = list(csv.DictReader(open(cells_csv)))
    assert {r["student"] for r in grades} == set(files)
    assert len(cells) == sum(len(c) for c in scores.values())
    autograd = [r for r in cells if r["student"] == "autograd_in_backward" and r["cell"] == "test_staged"]
    assert autograd and float(autograd[0]["score"]) < float(autograd[0]["max_score"])
    assert all(0 <= mean <= maximum for mean, maximum in means.values())


def test_command_line_grades_a_student_and_prints_the_table(graded, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(graded[0], course)
    result = subprocess.run(
        [sys.executable, "-m", "autograde", "grade", "--course", str(course), "-a", ASSIGNMENT,
         "-s", "not_a_notebook", "-s", "invalid_json", "--no-progress"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr  # students' broken files are not the instructor's error
    assert re.search(r"Not graded \(\d+\)", result.stdout) and "class mean" in result.stdout
    assert "not_a_notebook / " in result.stdout and "invalid_json / " in result.stdout
    assert "correct" in result.stdout  # the table shows the whole class, not only the re-graded rows
