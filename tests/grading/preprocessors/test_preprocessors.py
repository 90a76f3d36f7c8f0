"""The course's nbgrader preprocessors, each on a small notebook: the notebook in, the changed
notebook out (as nbgrader tests its own). SandboxedExecute runs real kernels, in the real sandbox
(tests/grading/kernels/test_sandbox.py tests the sandbox itself)."""
import json

import pytest
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config

from autograde.grading.gradebook.flags import add_flag, notebook_flags
from autograde.cause import MIME
from autograde.grading.preprocessors import (
    DropCauseOutputs,
    HideHiddenTests,
    LimitOutputSize,
    MarkUngradedAnswers,
    SandboxedExecute,
    ScanStudentCode,
    ShowFlags,
)
from autograde.grading.gradebook.records import Record, write_record


def graded(source, grade_id="test_a", outputs=(), execution_count=None):
    cell = new_code_cell(source, outputs=list(outputs), execution_count=execution_count)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": 1, "solution": False,
                                 "locked": True, "schema_version": 3}
    return cell


def answer(source, grade_id="answer_a", execution_count=None):
    cell = new_code_cell(source, execution_count=execution_count)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "solution": True, "locked": False,
                                 "schema_version": 3}
    return cell


def codes(nb):
    return sorted({flag["code"] for flag in notebook_flags(nb)})


# --- LimitOutputSize ------------------------------------------------------------------------------

def test_limit_output_size_cuts_long_text_drops_huge_images_and_flags_the_cell():
    long_text = new_output("stream", name="stdout", text="x" * 50)
    image = new_output("display_data", data={"image/png": "A" * 200, "text/plain": "<Figure>"})
    short = new_output("stream", name="stdout", text="fine")
    nb = new_notebook(cells=[graded("a", "big", [long_text, image]),
                             graded("b", "small", [short])])
    out, _ = LimitOutputSize(max_chars=20, max_data_chars=100).preprocess(nb, {})
    big, small = out.cells
    assert big.outputs[0].text.startswith("x" * 20) and "Output truncated" in big.outputs[0].text
    assert "image/png" not in big.outputs[1].data and big.outputs[1].data["text/plain"] == "<Figure>"
    assert small.outputs[0].text == "fine"
    assert notebook_flags(out) == [{"code": "O", "cell": "big", "message": "output too large: cut"}]


def test_past_the_notebooks_total_images_go_and_errors_stay():
    """Many images each under the per-output cap: past the notebook's total they are dropped, later
    text is cut short, and a later test cell keeps its error (nbgrader scores the cell by it: a flood
    of outputs must not turn a failed test into a passed one)."""
    picture = "A" * 3000
    flood = graded("show", "answer_a", [new_output("display_data", data={"image/png": picture}) for _ in range(10)])
    failed = graded("check()", "test_b", [new_output("stream", name="stdout", text="y" * 5000),
                                         new_output("error", ename="AssertionError", evalue="dx is wrong",
                                                    traceback=["AssertionError: dx is wrong"])])
    nb = new_notebook(cells=[flood, failed])
    out, _ = LimitOutputSize(max_chars=10_000, max_data_chars=5000, max_total_chars=10_000).preprocess(nb, {})
    kept = [o for o in out.cells[0].outputs if "image/png" in o.data]
    assert 1 <= len(kept) <= 4 and all("removed" in o.data["text/plain"] for o in out.cells[0].outputs[len(kept):])
    text, error = out.cells[1].outputs
    assert len(text.text) < 2100 and error.output_type == "error" and error.evalue == "dx is wrong"
    assert {flag["cell"] for flag in notebook_flags(out)} == {"answer_a", "test_b"}


# --- ScanStudentCode ---------------------------------------------------------------------------

def test_scan_student_code_flags_answers_and_not_locked_cells():
    setup = graded("import numpy as np\nimport torch", "setup")
    nb = new_notebook(cells=[
        setup,
        answer("def backward(x):\n    return torch.autograd.grad(x.sum(), x)", "cheat"),
        answer("np = None", "rebind"),
        answer("def f(x):\n    return np.tanh(x)", "honest"),
        graded("x.sum().backward()  # the grader's own test may call autograd", "test_f"),
    ])
    out, _ = ScanStudentCode().preprocess(nb, {})
    flagged = {(flag["code"], flag["cell"]) for flag in notebook_flags(out)}
    assert flagged == {("A", "cheat"), ("P", "rebind")}


# --- HideHiddenTests ---------------------------------------------------------------------------

def test_hide_hidden_tests_removes_hidden_code_and_grader_frames():
    student = answer("def f(x):\n    return x", execution_count=1)
    test = graded("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(secret_input) == 3\n### END HIDDEN TESTS",
                  execution_count=2, outputs=[new_output("error", ename="AssertionError", evalue="f is wrong", traceback=[
                      "Traceback (most recent call last)",
                      "Cell In[2], line 3\n----> 3 assert f(secret_input) == 3",
                      "Cell In[1], line 2, in f\n----> 2 return x",
                      "AssertionError: f is wrong"])])
    nb = new_notebook(cells=[student, test])
    out, _ = HideHiddenTests().preprocess(nb, {})
    shown = out.cells[1]
    assert "secret_input" not in shown.source and "assert f(1) == 1" in shown.source
    traceback = "\n".join(shown.outputs[0].traceback)
    assert "secret_input" not in traceback and "in f" in traceback and traceback.endswith("AssertionError: f is wrong")


# --- DropCauseOutputs ---------------------------------------------------------------------------

def test_drop_cause_outputs_keeps_everything_but_the_cause_codes():
    message = new_output("error", ename="GradientMismatch", evalue="dx is wrong", traceback=["dx is wrong"])
    cause = new_output("display_data", data={MIME: {"cause": "factor_2"}, "text/plain": ""})
    printed = new_output("stream", name="stdout", text="table\n")
    nb = new_notebook(cells=[graded("check()", outputs=[printed, cause, message]), new_markdown_cell("text")])
    out, _ = DropCauseOutputs().preprocess(nb, {})
    assert out.cells[0].outputs == [printed, message] and out.cells[1].source == "text"


# --- ShowFlags ---------------------------------------------------------------------------------

def test_show_flags_puts_a_note_on_top():
    nb = new_notebook(cells=[new_markdown_cell("# Exercise")])
    add_flag(nb, "T", "graded test cell was deleted; restored from the release", "test_a")
    out, _ = ShowFlags().preprocess(nb, {})
    assert "Notes from the grader" in out.cells[0].source and "test_a" in out.cells[0].source
    assert out.cells[1].source == "# Exercise"


def test_show_flags_reads_the_pipelines_record_when_it_has_one(tmp_path):
    nb = new_notebook(cells=[new_markdown_cell("# Exercise")])
    add_flag(nb, "T", "from the notebook", "test_a")
    write_record(tmp_path, Record("hw", "ann", True, flags=[{"code": "L", "cell": "test_b", "message": "from the record"}]))
    resources = {"nbgrader": {"assignment": "hw", "student": "ann"}}
    out, _ = ShowFlags(course=str(tmp_path)).preprocess(nb, resources)
    assert "from the record" in out.cells[0].source and "from the notebook" not in out.cells[0].source
    clean = new_notebook(cells=[new_markdown_cell("# Exercise")])
    out, _ = ShowFlags(course=str(tmp_path)).preprocess(clean, {"nbgrader": {"assignment": "hw", "student": "bob"}})
    assert len(out.cells) == 1  # no record, no flags: no note


# --- SandboxedExecute (real kernels) -----------------------------------------------------------------

def execute(nb, tmp_path, **settings):
    config = Config()
    config.SandboxedExecute.timeout = settings.pop("timeout", 30)
    config.SandboxedExecute.notebook_timeout = settings.pop("notebook_timeout", 0)
    config.SandboxedExecute.interrupt_on_timeout = True
    for name, value in settings.items():
        config.SandboxKernelManager[name] = value
    out, _ = SandboxedExecute(config=config).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    return out


@pytest.mark.nbgrader
def test_sandboxed_execute_grades_a_dead_kernel_and_skips_the_rest(tmp_path):
    nb = new_notebook(cells=[
        graded("print('before')", "test_before"),
        answer("import os\nos._exit(3)", "answer_exit"),
        graded("print('after')", "test_after"),
    ])
    out = execute(nb, tmp_path)
    before, died, after = out.cells
    assert before.outputs[0].text == "before\n"
    assert died.outputs[-1].ename == "KernelDied" and "status 3" in died.outputs[-1].evalue
    assert after.outputs[0].ename == "CellNotRun"
    assert codes(out) == ["K"]


@pytest.mark.nbgrader
def test_sandboxed_execute_runs_the_kernel_in_the_sandbox_over_unix_sockets(tmp_path):
    nb = new_notebook(cells=[graded(
        "import json, os, sys\n"
        "print(json.dumps({'uid': os.getuid(), 'pid': os.getpid(), 'net': [l.split(':')[0].strip() for l in open('/proc/net/dev')][2:],"
        " 'connection': json.load(open(sys.argv[sys.argv.index('-f') + 1]))['transport']}))", "test_where")])
    out = execute(nb, tmp_path)
    seen = json.loads(out.cells[0].outputs[0].text)
    assert seen["connection"] == "ipc" and seen["pid"] == 2  # its own pid namespace
    assert seen["uid"] != 0 and seen["net"] == ["lo"]  # no network but its own loopback
    assert not list(tmp_path.glob("agk-*")) and codes(out) == []


@pytest.mark.nbgrader
def test_sandboxed_execute_stops_at_the_notebook_budget_and_caps_memory(tmp_path):
    nb = new_notebook(cells=[
        answer("hog = bytearray(800 * 2**20)", "answer_memory"),
        answer("import time\ntime.sleep(30)", "answer_slow"),
        graded("print('never')", "test_late"),
    ])
    out = execute(nb, tmp_path, timeout=20, notebook_timeout=4, memory_mb=600)
    memory, slow, late = out.cells
    assert memory.outputs[-1].ename == "MemoryError"
    assert slow.outputs[-1].ename in ("CellTimeoutError", "KeyboardInterrupt")
    assert late.outputs[0].ename == "CellNotRun" and "time budget" in late.outputs[0].evalue
    assert codes(out) == ["L", "M"]


@pytest.mark.nbgrader
def test_memory_held_by_a_memory_bomb_is_released_for_the_next_cells(tmp_path):
    bomb = "def hog():\n    held = []\n    while True:\n        held.append(bytearray(64 * 2**20))\nhog()"
    nb = new_notebook(cells=[answer(bomb, "answer_bomb"), graded("x = bytearray(256 * 2**20)\nprint('ok')", "test_after")])
    out = execute(nb, tmp_path, memory_mb=1000)  # a kernel alone takes about 600 MB of address space
    bombed, after = out.cells
    assert bombed.outputs[-1].ename == "MemoryError"
    assert after.outputs[0].text == "ok\n"  # the bomb's list, kept alive by its traceback, was let go
    assert codes(out) == ["M"]


@pytest.mark.parametrize("step", [MarkUngradedAnswers, DropCauseOutputs, HideHiddenTests, ShowFlags])
def test_the_feedback_pages_steps_take_the_html_exporters_config_without_a_warning(step, caplog):
    step(config=HTMLExporter().default_config)  # as GenerateFeedback builds them
    assert not [record for record in caplog.records if "not recognized" in record.getMessage()]
