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
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograde.grading.cli import main as cli
from autograde.grading.course.layout import ROOT, make_course, manual_grade_ids, notebook_path
from autograde.grading.gradebook.database import cell_scores, db_url
from autograde.grading.demo.samples import correct_submission, variants

pytestmark = pytest.mark.nbgrader

ASSIGNMENT = "01_chain_rule"
NOTEBOOK = "chain_rule"
COURSE_ID = "backprop-lab"
STUDENTS = {"alice": "correct", "bob": "fork_overwritten"}
TESTS = ["test_tape", "test_staged", "test_conv_net", "test_quadratic_form_grad", "test_matvec_vjp",
         "test_broadcast_add_vjp"]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "term_in_browser"
TOKEN = "backprop-lab-term"
SLOW = 180_000  # ms: a kernel with torch on a busy 2-core machine
OWN_WORDS = "In my own words: each path from the input to the output adds its own term."
COMMENT = "Right idea; name it: the multivariable chain rule."
GRADER_FRAMES = ("chain_rule.py", "check.py", "guard.py", "site-packages/autograde", "autograde/chapters")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """`<venv>/bin/jupyter lab` in `root`, as a user with `home` (PATH without the venv)."""

    def __init__(self, name, root, home, logs, **env):
        self.name, self.root, self.home, self.port = name, Path(root), Path(home), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        quiet = self.home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        quiet.mkdir(parents=True, exist_ok=True)
        (quiet / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        environment = {k: v for k, v in os.environ.items()
                       if not k.startswith(("JUPYTER", "VIRTUAL_ENV", "IPYTHON", "BACKPROP_LAB", "PYTHON"))}
        environment.update(HOME=str(self.home), PATH="/usr/local/bin:/usr/bin:/bin", **env)
        command = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", f"--port={self.port}",
                   "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}"]
        if os.geteuid() == 0:
            command.append("--allow-root")
        self.log = open(Path(logs) / f"{name}.log", "w")
        self.process = subprocess.Popen(command, cwd=self.root, env=environment, stdout=self.log,
                                        stderr=subprocess.STDOUT)

    def wait(self, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name}'s jupyter lab exited; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=5):
                    return self
            except OSError:
                time.sleep(1)
        raise TimeoutError(f"{self.name}'s jupyter lab did not start in {timeout} s")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


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


def answered(fetched, variant):
    """Write the variant's answers into the solution cells of the fetched notebook (keeping the
    fetched notebook as it is otherwise, metadata included)."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in variant.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(fetched, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    nbformat.write(nb, fetched)


def hidden_test_lines():
    master = nbformat.read(notebook_path(ROOT, "source", ASSIGNMENT), as_version=4)
    release = nbformat.read(notebook_path(ROOT, "release", ASSIGNMENT), as_version=4)
    visible = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    hidden = set()
    for cell in master.cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            hidden |= {line.strip() for line in block.splitlines()}
    return {line for line in hidden if line and line not in visible}


def output_text(cell):
    """What a saved code cell showed: its streams and results, its error's traceback (no colours)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
        else:
            parts.append(out.get("data", {}).get("text/plain", ""))
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(parts))


def cell_points(text):
    """{grade cell id: (score, max)} from a feedback page's text."""
    return {m[0]: (float(m[1]), float(m[2]))
            for m in re.findall(r"Grade cell: (\w+)\s+Score: ([\d.]+) / ([\d.]+)", text)}


# --- what the people do ---------------------------------------------------------------------------

def formgrader_action(page, shots, column, name):
    """Click the formgrader's `column` link of the assignment's row; return the success dialog's text."""
    page.click(f"#main-table td.{column} a")
    modal = page.wait_for_selector("#success-modal, #error-modal", state="visible", timeout=SLOW)
    text = modal.inner_text()
    shots(page, name)
    modal.query_selector("button").click()
    page.wait_for_selector("#success-modal, #error-modal", state="hidden", timeout=30_000)
    page.wait_for_selector(f"#main-table td.{column} a", timeout=SLOW)
    return ("error-modal" not in (modal.get_attribute("id") or "")), text


def menu(page, name, item):
    page.click(f".lm-MenuBar-itemLabel:text-is('{name}')")
    page.click(f".lm-Menu-itemLabel:text-is('{item}')")


def open_assignment_list(page, lab):
    page.goto(f"{lab.url}/lab?token={TOKEN}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=SLOW)
    menu(page, "Nbgrader", "Assignment List")
    page.wait_for_selector("#nbgrader-assignment-list", timeout=SLOW)


def show_assignment_list(page):
    page.click(".lm-TabBar-tab:has-text('Assignments')")
    page.wait_for_selector("#nbgrader-assignment-list", state="visible")


def current_tab_dirty(page):
    return "jp-mod-dirty" in (page.get_attribute(".jp-mod-current.lm-TabBar-tab", "class") or "")


def wait_for_kernel_idle(page, settle=1.0, timeout=SLOW):
    """Until the notebook's kernel is idle and no cell is running or queued, `settle` s in a row."""
    deadline, quiet_since = time.monotonic() + timeout / 1000, None
    while time.monotonic() < deadline:
        busy = page.evaluate("""() => {
            const status = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt')];
            return (status && status.getAttribute('data-status') !== 'idle') || prompts.some(p => p.innerText.includes('*'));
        }""")
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return
        time.sleep(0.5)
    raise TimeoutError("the notebook kept running")


def student_works(page, lab, shots, name, variant):
    """Fetch, open, run all, save, validate, submit; return what the student saw."""
    seen = {}
    open_assignment_list(page, lab)
    page.wait_for_selector("#released_assignments_list button:has-text('Fetch')", timeout=SLOW)
    shots(page, f"{name}_assignment_list")
    page.click("#released_assignments_list button:has-text('Fetch')")
    page.wait_for_selector("#fetched_assignments_list .list_item a.assignment-notebooks-link", timeout=SLOW)
    fetched = lab.root / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    seen["fetched_into"] = fetched
    answered(fetched, variant)
    shots(page, f"{name}_fetched")

    page.click("#fetched_assignments_list a.assignment-notebooks-link")
    page.click(f"#nbgrader-{COURSE_ID}-{ASSIGNMENT} a:has-text('{NOTEBOOK}')")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=SLOW)
    time.sleep(3)  # JupyterLab writes the kernel's metadata just after it connects
    seen["opened_dirty"] = current_tab_dirty(page)
    shots(page, f"{name}_opened")

    menu(page, "Run", "Run All Cells")
    wait_for_kernel_idle(page)
    shown = "✓ f, dx, dy" if name == "alice" else "GradientMismatch"
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output", has_text=shown).first \
        .scroll_into_view_if_needed()
    time.sleep(1)
    shots(page, f"{name}_ran_all")
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-current.lm-TabBar-tab')?.classList.contains('jp-mod-dirty')",
                           timeout=60_000)
    seen["outputs"] = [(cell.source, output_text(cell)) for cell in nbformat.read(fetched, as_version=4).cells
                       if cell.cell_type == "code"]  # what the browser ran and showed, as saved

    show_assignment_list(page)
    if not page.is_visible(f"#nbgrader-{COURSE_ID}-{ASSIGNMENT} button:has-text('Validate')"):
        page.click("#fetched_assignments_list a.assignment-notebooks-link")
    page.click(f"#nbgrader-{COURSE_ID}-{ASSIGNMENT} button:has-text('Validate')")
    dialog = page.wait_for_selector(".jp-Dialog #validation-message", timeout=SLOW)
    seen["validation"] = dialog.inner_text()
    shots(page, f"{name}_validated")
    page.click(".jp-Dialog .jp-Dialog-footer button")
    page.wait_for_selector(".jp-Dialog", state="hidden")

    page.click("#fetched_assignments_list .list_item button:has-text('Submit')")
    page.wait_for_selector("#submitted_assignments_list .list_item", timeout=SLOW)
    shots(page, f"{name}_submitted")
    return seen


def student_reads_feedback(page, lab, shots, name):
    open_assignment_list(page, lab)
    page.wait_for_selector("#submitted_assignments_list button:has-text('Fetch Feedback')", timeout=SLOW)
    shots(page, f"{name}_feedback_available")
    page.click("#submitted_assignments_list button:has-text('Fetch Feedback')")
    page.wait_for_selector("#submitted_assignments_list a:has-text('view feedback')", timeout=SLOW)
    page.click("#submitted_assignments_list a:has-text('view feedback')")
    page.dblclick(f".jp-DirListing-item:has-text('{NOTEBOOK}.html')", timeout=SLOW)
    frame = page.frame_locator(".jp-HTMLViewer:not(.lm-mod-hidden) iframe")
    frame.locator("body").wait_for(timeout=SLOW)
    text = frame.locator("body").inner_text()
    if "GradientMismatch" in text:
        frame.locator("pre", has_text="GradientMismatch").first.scroll_into_view_if_needed()
        time.sleep(1)
    shots(page, f"{name}_feedback")
    return text


def grade_written_answers(page, lab, shots, course, student):
    """In the formgrader's manual grading, give each of the student's written answers half its
    points and COMMENT, as a grader types them; return the grading page's text."""
    def saved():
        with Gradebook(db_url(course)) as gb:
            submission = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
            grades = {g.name: (g.manual_score, g.max_score) for g in submission.grades if g.name in written}
            comments = {c.name: c.manual_comment for c in submission.comments if c.name in written}
            return submission.id, grades, comments

    written = manual_grade_ids(ASSIGNMENT)
    submission_id, grades, _ = saved()
    page.goto(f"{lab.url}/formgrader/submissions/{submission_id}/?index=0")
    page.wait_for_selector("input.score", timeout=SLOW)
    text = page.inner_text("body")
    for cell, (_, maximum) in grades.items():
        for field, value in ((f"input.score#{cell}", f"{maximum / 2:g}"), (f"textarea#{cell}-comment", COMMENT)):
            page.locator(field).fill(value)
            page.locator(field).dispatch_event("change")  # the formgrader saves on change
    page.locator(f"textarea#{next(iter(grades))}-comment").scroll_into_view_if_needed()
    shots(page, "formgrader_written_answers_scored")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the formgrader's API writes the gradebook
        _, grades, comments = saved()
        if all(score == maximum / 2 for score, maximum in grades.values()) and set(comments.values()) == {COMMENT}:
            break
        time.sleep(0.5)
    return text


def drawn_formulas(page):
    """(formulas on the open feedback page, how many of the first 20 the browser drew with a size)."""
    formulas = page.frame_locator(".jp-HTMLViewer:not(.lm-mod-hidden) iframe").locator("math")
    boxes = [formulas.nth(i).bounding_box() for i in range(min(formulas.count(), 20))]
    return formulas.count(), sum(1 for box in boxes if box and box["width"] > 0 and box["height"] > 0)


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
