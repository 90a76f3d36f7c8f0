"""What the class got wrong: for every graded cell, how many submissions lost points and why.

Every (submission, graded cell) that lost points gets exactly one cause code (autograde.cause.CAUSES),
read from structure, never from the English of a message:

  * the submission could not be graded (its record)                  -> not_graded
  * the cell's error output by its name: CellTimeoutError and KeyboardInterrupt (the time limit's
    interrupt) -> timeout, KernelDied -> kernel_died, MemoryError -> memory, NotImplementedError
    -> not_implemented, AutogradCalled -> autograd, NotAnArray -> not_an_array; CellNotRun by the
    flag the grader put on the cell: K -> kernel_died, L -> timeout, else not_run
  * the cause the kernel recorded in the cell (autograde.cause.MIME), for failed checks and
    partial credit
  * failing all that, the error's kind: GradientMismatch -> specific, AssertionError -> other,
    any other error -> error; no error at all -> other

Written answers that wait for a person (needs_grading in the gradebook) are counted as waiting,
not as mistakes. Example messages are the cells' errors with student ids taken out.
"""
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.utils import compute_checksum

from autograde.cause import CAUSES, MIME
from autograde.grading.gradebook.flags import cell_name, notebook_flags
from autograde.grading.gradebook.database import class_grades
from autograde.grading.gradebook.records import read_record

BY_ENAME = {
    "CellTimeoutError": "timeout", "KeyboardInterrupt": "timeout", "KernelDied": "kernel_died",
    "MemoryError": "memory", "NotImplementedError": "not_implemented", "AutogradCalled": "autograd",
    "NotAnArray": "not_an_array",
}
NOT_RUN_BY_FLAG = {"K": "kernel_died", "L": "timeout"}
FALLBACK_BY_ENAME = {"GradientMismatch": "specific", "AssertionError": "other"}
EXAMPLES = 3          # example messages kept per cell
MESSAGE_CHARS = 900   # an example is cut after this many characters


@dataclass
class Loss:
    """One graded cell of one submission that lost points."""
    cause: str
    message: str


@dataclass
class CellCauses:
    assignment: str
    cell: str
    max_score: float
    scores: list = field(default_factory=list)    # of the submissions whose cell is scored
    waiting: int = 0                              # written answers that wait for a person
    causes: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)  # [(cause, message, how many had it)]

    @property
    def mean(self):
        return sum(self.scores) / len(self.scores) if self.scores else None

    @property
    def lost(self):
        """How many scored submissions lost points here."""
        return sum(score < self.max_score for score in self.scores)

    @property
    def share_lost(self):
        return self.lost / len(self.scores) if self.scores else None


@dataclass
class AssignmentCauses:
    assignment: str
    totals: list = field(default_factory=list)    # [(score, max score)] per submission
    not_graded: int = 0
    waiting: int = 0                              # submissions with written answers to grade
    cells: dict = field(default_factory=dict)     # grade id -> CellCauses, in notebook order

    def counts(self):
        """{(cell, cause): count} over every cell."""
        return {(cell.cell, cause): n for cell in self.cells.values() for cause, n in cell.causes.items()}


def collect(course, assignments=None):
    """{assignment: AssignmentCauses} of every submission in the course's gradebook."""
    course = Path(course)
    everyone = class_grades(course, assignments)
    students = sorted({grades.student for grades in everyone}, key=len, reverse=True)
    found, losses, notebooks = {}, {}, {}
    for grades in everyone:
        summary = found.setdefault(grades.assignment, AssignmentCauses(grades.assignment))
        summary.totals.append((grades.score, grades.max_score))
        record = read_record(course, grades.assignment, grades.student)
        summary.not_graded += bool(record and not record.graded)
        summary.waiting += bool(grades.waiting)
        lost = submission_losses(course, grades, record, students)
        for grade in grades.cells:
            notebooks.setdefault(grades.assignment, set()).add(grade.notebook)
            cell = summary.cells.setdefault(grade.name, CellCauses(grades.assignment, grade.name, grade.max_score))
            if grade.needs_grading:
                cell.waiting += 1
            else:
                cell.scores.append(grade.score)
            if grade.name in lost:
                cell.causes[lost[grade.name].cause] += 1
                losses.setdefault((grades.assignment, grade.name), []).append(lost[grade.name])
    for assignment, summary in found.items():
        summary.cells = in_notebook_order(course, assignment, notebooks.get(assignment, ()), summary.cells)
        for cell in summary.cells.values():
            cell.examples = examples(losses.get((assignment, cell.cell), []))
    return found


def submission_losses(course, grades, record=None, students=()):
    """{grade id: Loss} of the cells where one submission (gradebook.SubmissionGrades) lost points;
    messages without the ids of `students` (the submission's own always)."""
    graded = graded_cells(course, grades.assignment, grades.student)
    lost = {}
    for grade in grades.cells:
        if not grade.needs_grading and grade.score < grade.max_score:
            loss = cell_loss(graded.get(grade.name), record)
            loss.message = anonymise(loss.message, grades.student, students)
            lost[grade.name] = loss
    return lost


def graded_cells(course, assignment, student):
    """{grade id: (cell, flags on that cell)} of a submission's graded notebook(s), {} if none."""
    folder = Path(course) / "autograded" / student / assignment
    found = {}
    for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 (a graded notebook the report cannot read says "other")
            continue
        flags = notebook_flags(nb)
        for index, cell in enumerate(nb.cells):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id:
                name = cell_name(cell, index)
                found[grade_id] = (cell, {f["code"] for f in flags if f.get("cell") == name})
    return found


def cell_loss(graded, record):
    """The Loss of one cell that lost points: its cause code and its message."""
    if record is not None and not record.graded:
        return Loss("not_graded", record.reason or "the notebook could not be graded")
    if graded is None:
        return Loss("other", "no graded cell found")
    cell, flags = graded
    if cell.metadata.get("nbgrader", {}).get("solution"):  # an answer graded as a whole (a written one)
        if compute_checksum(cell) == cell.metadata["nbgrader"].get("checksum"):
            return Loss("not_implemented", "not answered: the cell is as it was released")
        return Loss("other", "an answer a person scored below full marks")
    outputs = cell.get("outputs", [])
    errors = [out for out in outputs if out.get("output_type") == "error"]
    recorded = [out["data"][MIME].get("cause") for out in outputs
                if out.get("output_type") == "display_data" and isinstance(out.get("data", {}).get(MIME), dict)]
    error = errors[-1] if errors else None
    ename = error.get("ename", "") if error else ""
    evalue = error.get("evalue", "") if error else ""
    message = (f"{ename}: {evalue}" if evalue else ename) if error else printed(outputs)
    if ename in BY_ENAME:
        return Loss(BY_ENAME[ename], message)
    if ename == "CellNotRun":
        return Loss(next((NOT_RUN_BY_FLAG[f] for f in "KL" if f in flags), "not_run"), message)
    if recorded and recorded[-1] in CAUSES:
        return Loss(recorded[-1], message)
    if error:
        return Loss(FALLBACK_BY_ENAME.get(ename, "error"), message)
    return Loss("other", message)


def printed(outputs):
    """What a cell without an error printed (a partial-credit table), for its example message."""
    text = "".join(out.get("text", "") for out in outputs if out.get("output_type") == "stream")
    return text.strip() or "lost points without an error"


def anonymise(message, student, students=()):
    """The message without the student's own id (as a word) nor any student's id in a path."""
    text = re.sub(rf"(?<![\w.-]){re.escape(student)}(?![\w-])", "<student>", message)
    for other in students:
        text = re.sub(rf"(?<![\w.-]){re.escape(other)}(?=/)|(?<=/){re.escape(other)}(?![\w.-])", "<student>", text)
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS].rstrip() + " ..."
    return text


def examples(losses, keep=EXAMPLES):
    """A few distinct messages, one per cause first (most frequent cause first): [(cause, message, n)]."""
    seen = Counter((loss.cause, loss.message) for loss in losses)
    by_cause = Counter(loss.cause for loss in losses)
    order = sorted(seen, key=lambda pair: (-by_cause[pair[0]], -seen[pair], pair))
    chosen, causes = [], set()
    for pair in order:  # the most common message of each cause
        if pair[0] not in causes and len(chosen) < keep:
            chosen.append(pair)
            causes.add(pair[0])
    for pair in order:  # then other messages
        if pair not in chosen and len(chosen) < keep:
            chosen.append(pair)
    return [(cause, message, seen[cause, message]) for cause, message in chosen]


def in_notebook_order(course, assignment, notebooks, cells):
    """The cells in the order of the released notebooks (the gradebook's order is not that)."""
    order = []
    for name in sorted(notebooks):
        path = Path(course) / "release" / assignment / f"{name}.ipynb"
        if path.is_file():
            order += [c.metadata.get("nbgrader", {}).get("grade_id") for c in nbformat.read(path, as_version=4).cells]
    position = {name: i for i, name in enumerate(order) if name}
    return dict(sorted(cells.items(), key=lambda kv: (position.get(kv[0], len(position)), kv[0])))


def rows(found):
    """causes.csv's rows: (assignment, cell, cause, count), cells in notebook order, causes by CAUSES."""
    ranked = {code: i for i, code in enumerate(CAUSES)}
    out = []
    for assignment in sorted(found):
        for cell in found[assignment].cells.values():
            for cause in sorted(cell.causes, key=lambda c: ranked.get(c, len(ranked))):
                out.append((assignment, cell.cell, cause, cell.causes[cause]))
    return out
