"""Bad-input submissions, made for any assignment by scripted edits of its answer or release.

Each one is something a grader meets in a real class: a broken file, tampered cells, code that
never stops, kills its kernel, eats memory, floods the output, goes after the gradebook, or
patches the checks; and probes of the sandbox: code that searches the disk, reads a classmate's
file, opens sockets, looks for other processes or writes outside its folder, and prints a line
`probe <what>: <JSON list of what it reached>` (which must be empty, or only Python's own files).
`expect` says what grading must give:
  graded      False: scored 0 and listed as not graded (with the reason)
  flags       letters the summary must show (autograde.grading.gradebook.flags.LEGEND)
  marks       "full": every test keeps its points; "zero": every test scores 0;
              "some": some but not all tests lose points; None: not asserted
"""
import ast
import copy
import json
from dataclasses import dataclass

import nbformat

from autograde.grading.course.layout import ASSIGNMENTS
from autograde.grading.demo.samples import blank_submission, correct_submission
from autograde.grading.demo.samples.hostile_kernels import (
    LARGE_IMAGES,
    LOCKED_TMP,
    SYMLINK_OUT,
    WRITE_DESCRIPTORS,
    huge_cell,
    many_cells,
)
from autograde.grading.demo.samples.sandbox_probes import (
    LIST_PROCESSES,
    OPEN_SOCKETS,
    READ_CLASSMATE,
    SEARCH_DISK,
    WHO_AM_I,
    WRITE_OUTSIDE,
)


@dataclass
class BadInput:
    name: str
    description: str
    make: object            # assignment -> NotebookNode, or bytes for files that are not notebooks
    graded: bool = True
    flags: str = ""
    marks: str = None

    def build(self, assignment, **context):
        """The submission; a probe also takes `course` (the course's absolute path) and `port` (one
        that listens on the grader's loopback), which a test knows."""
        return self.make(assignment, **context) if getattr(self.make, "probe", False) else self.make(assignment)


def meta(cell):
    return cell.metadata.get("nbgrader", {})


def solution_cells(nb):
    return [c for c in nb.cells if meta(c).get("solution") and c.cell_type == "code"]


def graded_tests(nb):
    return [c for c in nb.cells if meta(c).get("grade") and not meta(c).get("solution")]


def append_to_first_answer(code):
    def make(assignment):
        nb = correct_submission(assignment)
        cell = solution_cells(nb)[0]
        cell.source = cell.source.rstrip() + "\n\n" + code.strip() + "\n"
        return nb
    return make


def append_to_last_answer(code):
    def make(assignment):
        nb = correct_submission(assignment)
        cell = solution_cells(nb)[-1]
        cell.source = cell.source.rstrip() + "\n\n" + code.strip() + "\n"
        return nb
    return make


def probe(code):
    """append_to_first_answer for a sandbox probe: @COURSE_HEX@ (hex, so the course's path is not in
    the code the feedback shows), @PORT@, @ASSIGNMENT@ and @NOTEBOOK@ are filled in."""
    def make(assignment, course="", port=0):
        values = {"@COURSE_HEX@": str(course).encode().hex(), "@PORT@": str(port or 22),
                  "@ASSIGNMENT@": assignment, "@NOTEBOOK@": ASSIGNMENTS[assignment]}
        text = code
        for key, value in values.items():
            text = text.replace(key, value)
        return append_to_first_answer(text)(assignment)
    make.probe = True
    return make


# --- files that are not notebooks -------------------------------------------------------------

def invalid_json(assignment):
    text = nbformat.writes(correct_submission(assignment))
    return text[: len(text) // 2].encode()  # cut off mid-way, as an interrupted upload would be


def not_a_notebook(assignment):
    return json.dumps({"answer": 42, "note": "my homework is in the attached PDF"}).encode()


# --- tampered cells ---------------------------------------------------------------------------

def deleted_cells(assignment):
    nb = correct_submission(assignment)
    first_test = graded_tests(nb)[0]
    setup = next(c for c in nb.cells if meta(c).get("locked") and not meta(c).get("grade"))
    nb.cells = [c for c in nb.cells if c is not first_test and c is not setup]
    return nb


def duplicated_cells(assignment):
    nb = correct_submission(assignment)
    first_test, first_answer = graded_tests(nb)[0], solution_cells(nb)[0]
    nb.cells.insert(nb.cells.index(first_test) + 1, duplicate(first_test))
    nb.cells.insert(nb.cells.index(first_answer), duplicate(first_answer))
    return nb


def duplicate(cell):
    twin = copy.deepcopy(cell)
    twin["id"] = f"{cell.get('id', 'cell')}-copy"
    return twin


def retyped_cells(assignment):
    nb = correct_submission(assignment)
    test, answer = graded_tests(nb)[0], solution_cells(nb)[0]
    for cell, new_type in ((test, "markdown"), (answer, "raw")):
        cell.cell_type = new_type
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return nb


def edited_tests(assignment):
    nb = blank_submission(assignment)  # nothing answered: only the tests' edits could earn points
    for cell in graded_tests(nb):
        cell.source = 'print("all tests passed")'
    return nb


# --- code that misbehaves when run ----------------------------------------------------------------

def endless_loop(assignment):
    """Every function the student wrote starts with `while True: pass`: each test hangs."""
    nb = correct_submission(assignment)
    for cell in solution_cells(nb):
        cell.source = hang_every_function(cell.source)
    return nb


def hang_every_function(source):
    lines = source.split("\n")
    starts = sorted({(node.body[0].lineno, node.body[0].col_offset) for node in ast.walk(ast.parse(source))
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}, reverse=True)
    for line, column in starts:
        lines.insert(line - 1, " " * column + "while True:  # the bug: this never ends\n" + " " * column + "    pass")
    return "\n".join(lines)


KERNEL_EXIT = """
import os
os._exit(3)  # leaves the kernel at once, as a C extension's exit() would
"""

SEGFAULT = """
import ctypes
ctypes.string_at(0)  # reads address 0: segmentation fault
"""

MEMORY_BOMB = """
def use_all_memory():
    hog = []
    while True:
        hog.append(b"x" * (256 * 2**20))


use_all_memory()
"""

HUGE_OUTPUT = """
print("x" * 5_000_000)
print("\\n".join(f"step {i}" for i in range(100_000)))  # one write: many lines, no race with the clock
"""

TAMPER = '''
import glob as _glob
import os as _os
import sqlite3 as _sqlite3


def _courses_nearby():
    """Course folders in the working directories of the processes that started this kernel."""
    found, pid = set(), _os.getppid()
    for _ in range(2):
        try:
            cwd = _os.readlink(f"/proc/{pid}/cwd")
            for db in _glob.glob(_os.path.join(cwd, "gradebook.db")) + _glob.glob(_os.path.join(cwd, "*", "gradebook.db")):
                found.add(_os.path.dirname(db))
            with open(f"/proc/{pid}/stat") as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    here = _os.getcwd()
    while here != _os.path.dirname(here):  # and up from the working directory
        if _os.path.exists(_os.path.join(here, "gradebook.db")):
            found.add(here)
        here = _os.path.dirname(here)
    return found


for _course in _courses_nearby():
    print("tampering with", _course)
    try:
        with _sqlite3.connect(_os.path.join(_course, "gradebook.db")) as _db:
            _db.execute("UPDATE grade SET auto_score = 0")  # everybody else fails
    except Exception:
        pass
    for _other in sorted(_glob.glob(_os.path.join(_course, "submitted", "*", "*", "*.ipynb")))[:1]:
        try:
            with open(_other, "w") as _f:
                _f.write("{}")  # and one classmate's work is gone
        except OSError:
            pass
'''

KILL_GRADER = """
import os
import signal

os.kill(os.getppid(), signal.SIGKILL)  # the process that started this kernel: the grader's worker
"""

MONKEYPATCH = """
import numpy
import autograde.check

numpy.allclose = lambda *args, **kwargs: True
autograde.check.is_close = lambda got, expected, *args, **kwargs: numpy.ones(numpy.shape(expected), bool)
"""

AUTOGRAD_HELPER = """
def gradient_by_autograd(f, x):
    x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f(x).sum().backward()
    return x.grad.numpy()
"""

BAD_INPUTS = [
    BadInput("invalid_json", "the notebook file cut off half-way", invalid_json, graded=False, flags="X"),
    BadInput("not_a_notebook", "a JSON file that is not a notebook", not_a_notebook, graded=False, flags="X"),
    BadInput("deleted_cells", "the setup cell and the first test cell deleted", deleted_cells,
             flags="T", marks="full"),
    BadInput("duplicated_cells", "the first test and answer cells duplicated", duplicated_cells,
             flags="T", marks="full"),
    BadInput("retyped_cells", "the first test cell made markdown, the first answer raw", retyped_cells,
             flags="T", marks="full"),
    BadInput("edited_tests", "nothing answered, every test replaced by a print", edited_tests,
             flags="T", marks="zero"),
    BadInput("endless_loop", "every function loops forever", endless_loop, flags="L", marks="zero"),
    BadInput("kernel_exit", "os._exit() at the end of the last answer", append_to_last_answer(KERNEL_EXIT),
             flags="K", marks="some"),
    BadInput("kernel_segfault", "a segfault at the end of the last answer", append_to_last_answer(SEGFAULT),
             flags="K", marks="some"),
    BadInput("memory_bomb", "allocates until memory runs out", append_to_first_answer(MEMORY_BOMB),
             flags="M", marks="full"),
    BadInput("huge_output", "prints megabytes", append_to_first_answer(HUGE_OUTPUT), flags="O", marks="full"),
    BadInput("tamper", "zeroes the gradebook and erases a classmate's notebook", append_to_first_answer(TAMPER),
             flags="W"),
    # Sandboxed, these two find no course and no grader's process (they are graded and change nothing);
    # unsandboxed, one changes the course and is caught, the other kills its worker (the tests accept both).
    BadInput("kill_grader", "kills the process that started its kernel", append_to_first_answer(KILL_GRADER)),
    BadInput("monkeypatch", "patches numpy.allclose and the checking library", append_to_first_answer(MONKEYPATCH),
             flags="P", marks="full"),
    BadInput("autograd_call", "a helper that calls .backward()", append_to_first_answer(AUTOGRAD_HELPER),
             flags="A", marks="full"),
    BadInput("search_disk", "searches the whole disk for notebooks with hidden tests and gradebooks",
             probe(SEARCH_DISK), marks="full"),
    BadInput("read_classmate", "reads another student's notebook, the gradebook and the master by path",
             probe(READ_CLASSMATE), marks="full"),
    BadInput("open_sockets", "connects to the grader's loopback and to an outside address", probe(OPEN_SOCKETS),
             marks="full"),
    BadInput("list_processes", "lists /proc and tries to signal every process it sees", probe(LIST_PROCESSES),
             marks="full"),
    BadInput("write_outside", "writes into the course, the Python installation and /", probe(WRITE_OUTSIDE),
             marks="full"),
    BadInput("who_am_i", "reports its user, capabilities, system-call filter, processes and network", probe(WHO_AM_I),
             marks="full"),
    # after the grader's own machinery (hostile_kernels.py): they may spoil their own grade, no other
    BadInput("write_descriptors", "writes fake fork-server replies to every descriptor it holds",
             append_to_last_answer(WRITE_DESCRIPTORS)),
    BadInput("symlink_out", "links its notebook and a file beside it to files outside the course",
             probe(SYMLINK_OUT), marks="full"),
    BadInput("locked_tmp", "leaves a read-only folder in /tmp for the next kernel", append_to_first_answer(LOCKED_TMP),
             marks="full"),
    BadInput("large_images", "shows sixty images of 1.9 MB each", append_to_first_answer(LARGE_IMAGES),
             flags="O", marks="full"),
    BadInput("many_cells", "20,000 extra cells", many_cells, graded=False, flags="X"),
    BadInput("huge_cell", "a cell of 5 MB", huge_cell, graded=False, flags="X"),
]
PROBES = [bad.name for bad in BAD_INPUTS if getattr(bad.make, "probe", False)]
