"""Written answers are graded by a person: after the pipeline, they wait ("needs grading") in the
summary, the CSV export and the feedback; once a grader scores them through nbgrader's API (what
the formgrader does), the export and the summary include those scores.

WrittenAnswersSuite is mixed into a chapter's test class next to PipelineSuite (it uses its class).
"""
import csv
import html
import re
import shutil

from nbgrader.api import Gradebook

from autograde.grading.course.layout import ASSIGNMENTS, manual_grade_ids
from autograde.grading.gradebook.database import db_url
from autograde.grading.reports.export import export
from autograde.grading.reports.feedback import generate
from autograde.grading.reports.summary import WAITING, table


def rows(path, **where):
    return [r for r in csv.DictReader(open(path)) if all(r[k] == v for k, v in where.items())]


def score_by_hand(course, assignment, student, grade_id, score, comment):
    """What the formgrader's grade and comment APIs do when a grader types a score and a comment."""
    with Gradebook(db_url(course)) as gb:
        grade = gb.find_grade(grade_id, ASSIGNMENTS[assignment], assignment, student)
        grade.manual_score = score
        grade.needs_manual_grade = False
        gb.find_comment(grade_id, ASSIGNMENTS[assignment], assignment, student).manual_comment = comment
        gb.db.commit()


class WrittenAnswersSuite:
    assignment = None

    def test_written_answers_wait_for_a_grader_then_count(self, pipeline, tmp_path):
        written = sorted(manual_grade_ids(self.assignment))
        assert written, f"{self.assignment} has no written questions"
        course = tmp_path / "course"
        shutil.copytree(pipeline[0], course)
        student = "correct"  # its written cells hold the master's model answers

        grades_csv, cells_csv, _ = export(course, tmp_path / "before")
        before = float(rows(grades_csv, student=student)[0]["score"])
        assert rows(grades_csv, student=student)[0]["needs_grading"].split() == written
        for cell in written:
            [row] = rows(cells_csv, student=student, cell=cell)
            assert row["status"] == "needs grading" and row["score"] == "" and row["comment"] == ""
        assert re.search(rf"\n{student}\s+[\d.]+{re.escape(WAITING)}/", table(course))
        generate(course, [self.assignment], [student])
        page = html.unescape(next((course / "feedback" / student / self.assignment).glob("*.html")).read_text())
        assert page.count("Needs grading:") == len(written)
        # the table of contents and each answer's header say so too, never "Score: 0.0"
        assert page.count("Written response</a> (Score: needs grading /") == len(written)
        assert page.count("Score: needs grading /") == 2 * len(written)

        points = {}
        with Gradebook(db_url(course)) as gb:
            for cell in written:
                points[cell] = gb.find_grade(cell, ASSIGNMENTS[self.assignment], self.assignment, student).max_score
        for cell in written:
            score_by_hand(course, self.assignment, student, cell, points[cell] / 2, f"Half of {cell}: say why.")

        grades_csv, cells_csv, _ = export(course, tmp_path / "after")
        [total] = rows(grades_csv, student=student)
        assert total["needs_grading"] == ""
        assert float(total["score"]) == before + sum(points.values()) / 2
        for cell in written:
            [row] = rows(cells_csv, student=student, cell=cell)
            assert row["status"] == "graded" and float(row["score"]) == points[cell] / 2
            assert row["comment"] == f"Half of {cell}: say why."
        assert not re.search(rf"\n{student}\s+[\d.]+{re.escape(WAITING)}/", table(course))
        generate(course, [self.assignment], [student])
        page = html.unescape(next((course / "feedback" / student / self.assignment).glob("*.html")).read_text())
        assert "needs grading" not in page.lower()
        for cell in written:
            assert f"Half of {cell}: say why." in page
