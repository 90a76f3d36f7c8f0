"""The whole term in JupyterLab, nbgrader's way, in a real browser (Playwright driving chromium).

A scratch course with chapter 1 and three `jupyter lab` servers started as the README says
(`.venv/bin/jupyter lab`, the environment not activated): the instructor's in the course
folder, and one per student in the student's own folder with the student's own HOME.

  1. instructor: the formgrader's first load (no gradebook yet) lists the assignment and stamps the
     new gradebook; `python -m autograde setup` makes the exchange, imports the roster (alice, bob)
     and writes the students' config; the formgrader shows its config readably, generates the
     student version and releases it to the exchange
  2. alice: Assignment List -> Fetch; the notebook (answers written into the fetched file, as the
     sample class does) opens unmodified; Run All: every test cell ends with one ✓ line; Save;
     Validate says success; Submit
  3. bob: the same with `dx = ...` where `dx += ...` belongs: the failing cell and Validate show the
     check's message and no grader frame; Submit
  4. instructor: the formgrader collects; `python -m autograde grade`; in the formgrader's manual
     grading, alice's written answers (the students' own words) are scored with a comment, the master's model
     answer and rubric on the page; `feedback` and `export`; the formgrader releases the feedback
  5. alice and bob: Fetch Feedback, view feedback: alice has every autograded cell's points, bob
     sees the message and no hidden test code

All the servers run as one OS user here. nbgrader names a student by the OS user (JupyterHub's
user inside a `jovyan` container), or by CourseDirectory.student_id when it is set, as
`nbgrader submit --student` does: each student's ~/.jupyter/nbgrader_config.py sets it.
Screenshots of every step go to test-artifacts/term_in_browser/.
"""
import csv
import json
import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from autograde.grading.cli import main as cli
from autograde.grading.course.layout import ROOT, make_course, manual_grade_ids, notebook_path
from autograde.grading.gradebook.database import cell_scores
from autograde.grading.demo.samples import correct_submission, variants

from term_people import (ASSIGNMENT, COMMENT, COURSE_ID, NOTEBOOK, OWN_WORDS, SLOW, TOKEN, Lab, drawn_formulas,
                         formgrader_action, grade_written_answers, student_reads_feedback, student_works)

pytestmark = pytest.mark.nbgrader

STUDENTS = {"alice": "correct", "bob": "fork_overwritten"}
TESTS = ["test_tape", "test_staged", "test_conv_net", "test_quadratic_form_grad", "test_matvec_vjp",
         "test_broadcast_add_vjp"]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "term_in_browser"
GRADER_FRAMES = ("chain_rule.py", "check.py", "guard.py", "site-packages/autograde", "autograde/chapters")


class Shots:
    def __init__(self):
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True)
        self.count = 0

    def __call__(self, page, name):
        self.count += 1
        path = ARTIFACTS / f"{self.count:02d}_{name}.png"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
        return path


def hidden_test_lines():
    master = nbformat.read(notebook_path(ROOT, "source", ASSIGNMENT), as_version=4)
    release = nbformat.read(notebook_path(ROOT, "release", ASSIGNMENT), as_version=4)
    visible = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    hidden = set()
    for cell in master.cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            hidden |= {line.strip() for line in block.splitlines()}
    return {line for line in hidden if line and line not in visible}


def cell_points(text):
    """{grade cell id: (score, max)} from a feedback page's text."""
    return {m[0]: (float(m[1]), float(m[2]))
            for m in re.findall(r"Grade cell: (\w+)\s+Score: ([\d.]+) / ([\d.]+)", text)}


# --- the term -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def term(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements.txt (playwright)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    start = time.monotonic()
    base = tmp_path_factory.mktemp("term")
    logs = ARTIFACTS.parent / "term_in_browser_logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    shots = Shots()
    course = make_course(base / "course", [ASSIGNMENT])
    shared_config = base / "etc" / "jupyter"  # stands for the environment's etc/jupyter
    roster = base / "students.csv"
    roster.write_text("id,first_name,last_name,email\nalice,Alice,Archer,alice@example.org\nbob,Bob,Baker,\n")
    seen = {"timings": {}}
    labs = []

    def lap(step):
        seen["timings"][step] = round(time.monotonic() - start)

    try:
        instructor = Lab("instructor", course, base / "instructor", logs)
        labs.append(instructor)
        instructor.wait()
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"])
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            teacher = context.new_page()

            # 1. the formgrader's first load, before anything is set up
            teacher.goto(f"{instructor.url}/formgrader?token={TOKEN}")
            teacher.wait_for_selector(f"#main-table td.name:has-text('{ASSIGNMENT}')", timeout=SLOW)
            shots(teacher, "formgrader_first_load")
            seen["gradebook_tables"] = sqlite_tables(course / "gradebook.db")
            lap("formgrader")

            assert cli(["setup", "--course", str(course), "--roster", str(roster),
                        "--student-config", str(shared_config / "nbgrader_config.py")]) == 0
            seen["exchange"] = course / "exchange"
            for student in STUDENTS:
                home = base / student / "home"
                (home / ".jupyter").mkdir(parents=True)
                (home / ".jupyter" / "nbgrader_config.py").write_text(
                    f"c = get_config()\nc.CourseDirectory.student_id = {student!r}\n")
                (base / student / "work").mkdir()
                labs.append(Lab(student, base / student / "work", home, logs, JUPYTER_CONFIG_PATH=str(shared_config)))

            teacher.goto(f"{instructor.url}/formgrader/manage_assignments")
            teacher.wait_for_selector("#main-table td.assign a", timeout=SLOW)
            teacher.get_by_text("Current configuration (click to expand)").click()
            seen["config_panel"] = teacher.inner_text("#collapseConfig")
            shots(teacher, "formgrader_config")
            seen["generate"] = formgrader_action(teacher, shots, "assign", "formgrader_generated")
            seen["release"] = formgrader_action(teacher, shots, "release", "formgrader_released")
            lap("released")

            # 2, 3. the students
            for lab in labs[1:]:
                lab.wait()
            wrong = {v.name: v for v in variants(ASSIGNMENT)}
            for student, variant in STUDENTS.items():
                page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
                notebook = correct_submission(ASSIGNMENT) if variant == "correct" else wrong[variant].build(ASSIGNMENT)
                for cell in notebook.cells:  # written answers in their own words, not the master's
                    if cell.metadata.get("nbgrader", {}).get("grade_id") in manual_grade_ids(ASSIGNMENT):
                        cell.source = OWN_WORDS
                seen[student] = student_works(page, next(lab for lab in labs if lab.name == student), shots,
                                              student, notebook)
                page.context.close()
                lap(student)

            # 4. the instructor collects, grades, returns feedback
            teacher.reload()
            teacher.wait_for_selector("#main-table td.collect a", timeout=SLOW)
            seen["collect"] = formgrader_action(teacher, shots, "collect", "formgrader_collected")
            here = os.getcwd()
            os.chdir(course)
            try:
                seen["grade_status"] = cli(["grade", "-a", ASSIGNMENT, "--no-progress", "-j", "2",
                                            "--cell-timeout", "60", "--notebook-timeout", "240"])
                seen["grading_page"] = grade_written_answers(teacher, instructor, shots, course, "alice")
                seen["feedback_status"] = cli(["feedback", "-a", ASSIGNMENT])
                seen["export_status"] = cli(["export", "-a", ASSIGNMENT, "--out", str(base / "export")])
                seen["cells_csv"] = list(csv.DictReader(open(base / "export" / "cells.csv")))
            finally:
                os.chdir(here)
            seen["scores"] = cell_scores(course, ASSIGNMENT)
            teacher.goto(f"{instructor.url}/formgrader/manage_assignments")
            teacher.wait_for_selector("#main-table td.release-feedback a", timeout=SLOW)
            seen["release_feedback"] = formgrader_action(teacher, shots, "release-feedback",
                                                         "formgrader_feedback_released")
            lap("graded")

            # 5. the students read their feedback
            for student in STUDENTS:
                page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
                seen[student]["feedback"] = student_reads_feedback(
                    page, next(lab for lab in labs if lab.name == student), shots, student)
                seen[student]["formulas"] = drawn_formulas(page)
                page.context.close()
            lap("feedback")
            browser.close()
    finally:
        for lab in labs:
            lab.stop()
    seen["seconds"] = round(time.monotonic() - start)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.json").write_text(json.dumps({**seen["timings"], "total": seen["seconds"]}, indent=1))
    return seen


def sqlite_tables(path):
    import sqlite3
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()


# --- what must be true ----------------------------------------------------------------------------

def test_the_formgrader_works_from_an_unactivated_environment(term):
    assert "alembic_version" in term["gradebook_tables"]  # nbgrader ran `alembic` and stamped it
    assert "autograde.grading.preprocessors.SandboxedExecute" in term["config_panel"]
    assert str(term["exchange"]) in term["config_panel"]


def test_the_instructor_releases_collects_and_returns_feedback_from_the_formgrader(term):
    for step in ("generate", "release", "collect", "release_feedback"):
        ok, text = term[step]
        assert ok, f"{step}: {text}"
    assert term["grade_status"] == 0 and term["feedback_status"] == 0
    outbound = term["exchange"] / COURSE_ID / "outbound" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert outbound.is_file()


def test_students_fetch_into_their_own_folder_and_it_opens_unmodified(term):
    for student in STUDENTS:
        fetched = term[student]["fetched_into"]
        assert fetched.is_file() and "release" not in fetched.parts
        assert not term[student]["opened_dirty"], f"{student}'s notebook opened marked modified"


def test_a_passing_test_cell_prints_one_confirmation(term):
    confirmed = [output for source, output in term["alice"]["outputs"] if "grader.check_" in source]
    assert len(confirmed) == len(TESTS)
    for output in confirmed:
        assert sum(line.startswith("✓") for line in output.splitlines()) == 1, output


def test_validate_says_success_or_the_checks_message_without_grader_frames(term):
    assert "Success! Your notebook passes all the tests." in term["alice"]["validation"]
    failed = term["bob"]["validation"]
    assert "accumulate with `dx += ...`" in failed, failed
    assert not [frame for frame in GRADER_FRAMES if frame in failed], failed
    error = next(output for source, output in term["bob"]["outputs"] if "grader.check_staged(" in source)
    assert "accumulate with `dx += ...`" in error and not [f for f in GRADER_FRAMES if f in error], error


def test_grades_and_feedback(term):
    written = manual_grade_ids(ASSIGNMENT)
    alice = {cell: s for cell, s in term["scores"]["alice"].items() if cell not in written}
    bob = {cell: s for cell, s in term["scores"]["bob"].items() if cell not in written}
    assert alice and all(score == maximum for score, maximum in alice.values()), alice
    assert bob["test_staged"][0] == 0 and all(s == m for c, (s, m) in bob.items() if c != "test_staged"), bob

    shown = cell_points(term["alice"]["feedback"])
    assert set(TESTS) <= set(shown) and all(shown[cell][0] == shown[cell][1] for cell in TESTS), shown
    bob_page = term["bob"]["feedback"]
    assert cell_points(bob_page)["test_staged"][0] == 0
    assert "accumulate with `dx += ...`" in bob_page
    for page in (term["alice"]["feedback"], bob_page):
        leaked = [line for line in hidden_test_lines() if line in page]
        assert not leaked, f"hidden test code in the feedback: {leaked[:3]}"
    for student in STUDENTS:  # the maths drawn by the browser, with no MathJax from the network
        count, drawn = term[student]["formulas"]
        assert count > 10 and drawn >= 10, term[student]["formulas"]  # (those in a closed hint have no size)
        assert "$\\frac" not in term[student]["feedback"] and "\\partial" not in term[student]["feedback"]


def test_a_grader_scores_written_answers_with_the_rubric_at_hand_and_the_student_sees_score_and_comment(term):
    written = manual_grade_ids(ASSIGNMENT)
    grading = term["grading_page"]
    assert OWN_WORDS in grading
    assert grading.count("For the grader: the model answer and the rubric") == len(written), grading[:2000]
    assert "Rubric (" in grading and "Model answer." in grading
    rows = {row["cell"]: row for row in term["cells_csv"] if row["student"] == "alice" and row["cell"] in written}
    assert set(rows) == set(written) and term["export_status"] == 0
    for cell, row in rows.items():
        assert row["status"] == "graded" and row["comment"] == COMMENT, row
        assert float(row["score"]) * 2 == float(row["max_score"]), row
    alice = term["alice"]["feedback"]
    assert alice.count(COMMENT) == len(written) and OWN_WORDS in alice
    assert "needs grading" not in alice.lower()
    for student in STUDENTS:  # the rubric is the graders' alone
        page = term[student]["feedback"]
        assert "For the grader" not in page and "Rubric (" not in page and "Model answer." not in page
    assert "Needs grading" in term["bob"]["feedback"]  # nobody scored his yet
