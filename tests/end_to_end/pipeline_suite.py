"""The pipeline end to end on a chapter's sample class plus every bad input (real nbgrader, real
kernels forked from a warm server, as by default, in the real sandbox, two workers, short limits): the scores equal serial `nbgrader
autograde` (the serial run is the GradingSuite's, shared), every bad input is graded or reported
without touching any other grade, the sandbox probes reach nothing and no feedback page shows a
course file, no stale grade survives, feedback hides the hidden tests, the CSVs have a row per
graded cell, and grading without a sandbox is refused unless asked for, then flagged.

PipelineSuite is mixed into one chapter's test class next to GradingSuite (test_grading_01_chain_rule.py).
"""
import csv
import dataclasses
import html
import json
import os
import re
import shutil
import socket
import stat
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from autograde.grading.cli import main as cli
from autograde.grading.course.layout import ROOT, manual_grade_ids, notebook_path, submit
from autograde.grading.gradebook.database import cell_scores
from autograde.grading.reports.export import export
from autograde.grading.reports.feedback import generate
from autograde.grading.gradebook.records import read_record
from autograde.grading.scheduling.runner import WORKER_DIED, grade_class
from autograde.grading.demo.samples import variants
from autograde.grading.demo.samples.bad_inputs import BAD_INPUTS, PROBES
from autograde.grading.kernels.kernel_plan import WORKER_UID_BASE
from autograde.grading.kernels.sandbox import PACKAGE_DIR
from grading_suite import PIPELINE

# short enough for the endless loop, long enough for a loaded 2-core machine
LIMITS = dataclasses.replace(PIPELINE, cell_timeout=4, notebook_timeout=8)


def page_text(path):
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def probe_report(course, assignment, student):
    """What a sandbox probe printed in its graded notebook: `probe <what>: <JSON>`."""
    nb = nbformat.read(notebook_path(course, "autograded", assignment, student), as_version=4)
    text = "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))
    found = re.search(r"^probe \w+: (.*)$", text, re.M)
    assert found, f"{student} printed no probe line:\n{text[:2000]}"
    return json.loads(found.group(1))


def grade_hostile_class(course, assignment, settings, bad_inputs=BAD_INPUTS, samples=None):
    """The chapter's sample class (or the samples named in `samples`) and the bad inputs, submitted
    to `course` (released) and graded by the pipeline; returns (course, {student: submitted bytes},
    {student: Record}, cell scores)."""
    listener = socket.create_server(("127.0.0.1", 0))  # what the network probe must not reach
    context = {"course": course, "port": listener.getsockname()[1]}  # what the probes are told
    make_victims(course)
    samples = [(v.name, v.build(assignment)) for v in variants(assignment) if samples is None or v.name in samples]
    samples += [(b.name, b.build(assignment, **context)) for b in bad_inputs]
    files = {student: submit(course, assignment, student, nb).read_bytes() for student, nb in samples}
    here = os.getcwd()
    os.chdir(course)  # graded from the course folder, as an instructor does: the tamper notebook finds it
    try:
        results = {r.student: r for r in grade_class(course, settings=settings)}
    finally:
        os.chdir(here)
        listener.close()
    return course, files, results, cell_scores(course, assignment)


VICTIMS = {"private.txt": (b"root's own\n", 0o600), "notes.txt": (b"anyone may read this\n", 0o644)}


def make_victims(course):
    """Files outside the course that the symlink_out sample links to (hostile_kernels.SYMLINK_OUT)."""
    folder = Path(course).parent / "victims"
    folder.mkdir(exist_ok=True)
    for name, (data, mode) in VICTIMS.items():
        (folder / name).write_bytes(data)
        os.chmod(folder / name, mode)


@pytest.mark.nbgrader
class PipelineSuite:
    assignment = None  # set by the chapter's test class

    @pytest.fixture(scope="class")
    @classmethod
    def pipeline(cls, tmp_path_factory, released):
        return grade_hostile_class(released(tmp_path_factory.mktemp("pipeline"), cls.assignment), cls.assignment, LIMITS)

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
        if bad.name in ("tamper", "kill_grader") and "bubblewrap" not in result.protections:
            # Without bubblewrap the tamper notebook may find the course and change it (caught and undone),
            # kill_grader may kill its worker (only its own submission goes down); the other grades are
            # checked by test_no_grade_but_its_own_changes. In the sandbox both are graded like any other.
            assert result.graded or "changed files outside its working copy" in result.reason \
                or result.reason == WORKER_DIED
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

    def test_a_kernel_sees_the_sandbox_its_record_names(self, pipeline):
        """From inside (the who_am_i probe): a uid of its worker's own, no capability, no_new_privs,
        a seccomp filter, only the loopback, only its own namespace's few processes; and the
        record says so, for every submission of the class."""
        course, _, results, _ = pipeline
        seen = probe_report(course, self.assignment, "who_am_i")
        assert seen["uid"] >= WORKER_UID_BASE and seen["capabilities"] == "0000000000000000", seen
        assert seen["no_new_privs"] == "1" and seen["seccomp"] == "2" and seen["interfaces"] == ["lo"], seen
        assert seen["processes"] <= 3, seen  # bubblewrap's init, the fork server, itself
        for student, result in results.items():
            assert {"bubblewrap", "landlock", "seccomp", "uid-per-worker", "no-network"} <= set(result.protections), student
            assert "U" not in {flag["code"] for flag in result.flags}

    def test_sandbox_probes_reach_nothing(self, pipeline):
        """Each probe is graded (test_every_bad_input_is_graded_or_reported) and reaches nothing: no
        course file, no classmate, no socket, no other process, no write outside its folder."""
        course, _, results, _ = pipeline
        report = {name: probe_report(course, self.assignment, name) for name in PROBES}
        python = (sys.base_prefix, sysconfig.get_path("purelib"), "/usr/")  # its own notebook ("./") at most
        assert all(path.startswith(python) or path.startswith("./") for path in report["search_disk"]), report
        assert report["read_classmate"] == [] and report["open_sockets"] == [] and report["write_outside"] == []
        # bubblewrap's init and its own fork server (its parent), neither of which it may signal
        others = {entry for entry in report["list_processes"]["seen"] if entry != "1 bwrap"}
        assert len(others) <= 1 and all(re.fullmatch(r"\d+ python[\d.]*", entry) for entry in others), report
        assert report["list_processes"]["signalled"] == []
        for folder in (course, Path(course) / "submitted", Path(PACKAGE_DIR), Path(sys.base_prefix),
                       Path(sysconfig.get_path("purelib")), Path("/"), Path("/root"), Path("/work"), Path("/etc"),
                       Path("/var/tmp")):
            assert not (folder / "sandbox-escape.txt").exists(), folder

    def test_links_to_files_outside_change_nothing(self, pipeline):
        """The symlink_out sample linked its notebook's name and a file beside it, in its folder and
        around it, to files outside the course: they are as they were, byte for byte and mode for
        mode, and what came back to the course is its graded notebook alone, no link."""
        course = pipeline[0]
        for name, (data, mode) in VICTIMS.items():
            path = Path(course).parent / "victims" / name
            assert path.read_bytes() == data and stat.S_IMODE(path.stat().st_mode) == mode, name
        graded = notebook_path(course, "autograded", self.assignment, "symlink_out")
        assert [p.name for p in graded.parent.iterdir()] == [graded.name] and not graded.is_symlink()
        assert not any(p.is_symlink() for p in Path(course).rglob("*"))

    def test_no_feedback_page_shows_a_course_file(self, pipeline, tmp_path):
        course = tmp_path / "course"
        shutil.copytree(pipeline[0], course)
        hostile = [*PROBES, "tamper", "kill_grader"]
        assert generate(course, [self.assignment], hostile) == (len(hostile), [])
        for student in hostile:
            for page in (course / "feedback" / student / self.assignment).glob("*.html"):
                text = page_text(page)
                assert str(pipeline[0]) not in text and str(course) not in text, (student, page)
                assert "BEGIN HIDDEN TESTS" not in text, (student, page)

    def test_limits_are_reported_as_such(self, pipeline):
        course, _, results, _ = pipeline
        assert results["endless_loop"].seconds < LIMITS.notebook_timeout + 30
        assert any("memory" in f["message"] for f in results["memory_bomb"].flags)
        assert any("segmentation fault (SIGSEGV)" in f["message"] for f in results["kernel_segfault"].flags)
        assert any("exited with status 3" in f["message"] for f in results["kernel_exit"].flags)
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
        students = ["fork_overwritten", "invalid_json", "deleted_cells", "correct"]
        assert generate(course, [self.assignment], students, workers=2) == (4, [])  # nbgrader's pages in 2 processes
        assert {folder.name for folder in (course / "feedback").iterdir()} == set(students)  # nobody else's
        alone = tmp_path / "alone"
        shutil.copytree(pipeline[0], alone)
        assert generate(alone, [self.assignment], students, workers=1) == (4, [])
        assert all(page.read_bytes() == (alone / page.relative_to(course)).read_bytes()
                   for page in (course / "feedback").rglob("*.html"))  # the same pages as from one process
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

    def test_unsandboxed_is_refused_without_a_sandbox_and_flagged_when_asked_for(self, pipeline, tmp_path, capsys):
        course = tmp_path / "course"
        shutil.copytree(pipeline[0], course)
        with open(course / "nbgrader_config.py", "a") as config:  # a machine where the named bwrap is missing
            config.write('\nc.SandboxKernelManager.bwrap = "/nonexistent/bwrap"\n')
        grade = ["grade", "--course", str(course), "-a", self.assignment, "-s", "correct", "--no-progress"]
        assert cli(grade) == 2
        assert "/nonexistent/bwrap" in capsys.readouterr().err
        with open(course / "nbgrader_config.py", "a") as config:  # and nothing else can run either
            config.write('c.SandboxKernelManager.bwrap = ""\nc.SandboxKernelManager.landlock = False\n')
        assert cli(grade) == 2
        assert "no sandbox can run here" in capsys.readouterr().err
        assert cli(grade + ["--unsandboxed"]) == 0
        out = capsys.readouterr().out
        record = read_record(course, self.assignment, "correct")
        assert record.graded and "U" in {flag["code"] for flag in record.flags}
        assert "bubblewrap" not in record.protections and "landlock" not in record.protections
        assert "Sandbox: none" in out and "U  graded without a sandbox" in out
        assert "(some submissions had more)" in out  # the rest of the class was graded sandboxed
