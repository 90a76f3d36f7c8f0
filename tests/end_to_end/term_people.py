"""The people of the browser term (tests/end_to_end/test_term_in_browser.py) and what they do:
the JupyterLab servers they work in, the instructor's formgrader, the students' Assignment List, as
Playwright drives them in chromium. The term itself, and what must be true of it, is the test's."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from autograde.grading.course.layout import manual_grade_ids
from autograde.grading.gradebook.database import db_url

ASSIGNMENT = "01_chain_rule"
NOTEBOOK = "chain_rule"
COURSE_ID = "backprop-lab"
TOKEN = "backprop-lab-term"
SLOW = 180_000  # ms: a kernel with torch on a busy 2-core machine
OWN_WORDS = "In my own words: each path from the input to the output adds its own term."
COMMENT = "Right idea; name it: the multivariable chain rule."


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
