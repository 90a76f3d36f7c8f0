"""Real nbgrader, end to end: every sample submission of a chapter gets the grade it deserves.

The correct answers (the master's and ones written another way) get full marks; the blank
release gets zero on every test cell; each typical mistake loses exactly the points of the
exercise it breaks, and the failure message names the mistake.

Each chapter has a file `test_grading_<assignment>.py` with a subclass naming its assignment, so
that `pytest -n 2 --dist loadfile` grades two chapters side by side. Chapter 1's class is graded by
serial `nbgrader autograde` itself, the baseline its PipelineSuite compares with; the other chapters'
classes by the pipeline (nbgrader's autograde in two workers, forked kernels), which that comparison
shows gives the same scores.
"""
import html
import re

import nbformat
import pytest

from autograde.grading.gradebook.database import cell_scores
from autograde.grading.course.layout import manual_grade_ids, notebook_path, submit
from autograde.grading.course.config import nbgrader
from autograde.grading.reports.feedback import generate
from autograde.grading.scheduling.runner import Settings, grade_class
from autograde.grading.demo.samples import variants

# Every suite's settings: one memory limit, so that the workers and fork servers a test process keeps
# between runs serve them all (the demo's limit: enough for every chapter).
PIPELINE = Settings(workers=2, cell_timeout=60, notebook_timeout=300, memory_mb=2048, progress=False)


def submit_variants(course, assignment):
    """The chapter's sample submissions, each under its own student id, handed in to `course`."""
    for variant in variants(assignment):
        submit(course, assignment, variant.name, variant.build(assignment))
    return course


@pytest.mark.nbgrader
class GradingSuite:
    assignment = None  # set by each chapter's subclass
    serial_nbgrader = False  # True: graded by plain `nbgrader autograde`, one notebook after the other

    @pytest.fixture(scope="class")
    @classmethod
    def graded(cls, tmp_path_factory, released):
        assignment = cls.assignment
        workdir = submit_variants(released(tmp_path_factory.mktemp(assignment), assignment), assignment)
        if cls.serial_nbgrader:
            nbgrader(workdir, "autograde", assignment)
        else:
            results = grade_class(workdir, [assignment], settings=PIPELINE)
            assert all(r.graded for r in results), [(r.student, r.reason) for r in results if not r.graded]
        manual = manual_grade_ids(assignment)  # written answers wait for a person: not the autograder's to score
        scores = {student: {cell: score for cell, score in cells.items() if cell not in manual}
                  for student, cells in cell_scores(workdir, assignment).items()}
        return assignment, workdir, scores

    def test_every_variant_gets_its_expected_grade(self, graded):
        assignment, workdir, scores = graded
        problems = []
        for variant in variants(assignment):
            cells = scores[variant.name]
            messages = cell_messages(workdir, assignment, variant.name)
            for cell, (score, max_score) in cells.items():
                if cell in variant.loses:
                    phrase = variant.loses[cell]
                    if not score < max_score:
                        problems.append(f"{variant.name}: {cell} kept {score}/{max_score}, should lose points")
                    elif phrase not in messages.get(cell, ""):
                        problems.append(f"{variant.name}: {cell} message lacks {phrase!r}:\n{messages.get(cell)}")
                elif score != max_score:
                    problems.append(f"{variant.name}: {cell} got {score}/{max_score}:\n{messages.get(cell)}")
        assert not problems, "\n\n".join(problems)

    def test_blank_release_scores_zero_everywhere(self, graded):
        _, _, scores = graded
        assert scores["blank"], "the blank submission has no graded cells"
        assert all(score == 0 for score, _ in scores["blank"].values()), scores["blank"]

    def test_correct_answer_gets_full_marks(self, graded):
        _, _, scores = graded
        total = sum(score for score, _ in scores["correct"].values())
        maximum = sum(max_score for _, max_score in scores["correct"].values())
        assert maximum > 0 and total == maximum

    def test_feedback_names_each_mistake(self, graded):
        assignment, workdir, _ = graded
        if self.serial_nbgrader:
            nbgrader(workdir, "generate_feedback", assignment)
        else:  # nbgrader's GenerateFeedback, in this process, with the records the pipeline wrote
            assert generate(workdir, [assignment]) == (len(variants(assignment)), [])
        for variant in variants(assignment):
            if variant.blank or not variant.loses:
                continue
            page = next((workdir / "feedback" / variant.name / assignment).glob("*.html"))
            text = html.unescape(page.read_text())
            for cell, phrase in variant.loses.items():
                assert phrase in text, f"{variant.name}: feedback lacks {phrase!r} for {cell}"

    def test_no_failure_message_states_a_graded_answer(self, graded):
        """Every message a check gave the sample class names the slip, never the right expression:
        the patterns of test_no_answers_in_text.FORBIDDEN, on the errors' text (where an entry is
        named, `dW1[1, 0]`, is a place, not an expression)."""
        from test_no_answers_in_text import FORBIDDEN, compile_pattern, normalise

        assignment, workdir, _ = graded
        patterns = [compile_pattern(p) for exercise in FORBIDDEN[assignment].values() for p in exercise]
        stated = set()
        for variant in variants(assignment):
            nb = nbformat.read(notebook_path(workdir, "autograded", assignment, variant.name), as_version=4)
            for output in (out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs):
                if output.get("output_type") == "error":
                    text = normalise(re.sub(r"\w+\[[\d, ]+\]", "ENTRY", output.get("evalue", "")))
                    stated |= {(variant.name, text[max(0, m.start() - 60):m.end() + 20])
                               for m in filter(None, (pattern.search(text) for pattern in patterns))}
        assert not stated, sorted(stated)[:5]


def cell_messages(workdir, assignment, student):
    """{grade cell id: what the test printed and raised} for one autograded notebook."""
    path = notebook_path(workdir, "autograded", assignment, student)
    nb = nbformat.read(path, as_version=4)
    messages = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            messages[meta["grade_id"]] = "\n".join(_output_text(out) for out in cell.get("outputs", []))
    return messages


def _output_text(out):
    if out.get("output_type") == "error":
        return f"{out.get('ename')}: {out.get('evalue')}"
    if out.get("output_type") == "stream":
        return out.get("text", "")
    return out.get("data", {}).get("text/plain", "")
