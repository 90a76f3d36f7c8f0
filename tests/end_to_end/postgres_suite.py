"""The gradebook on a real PostgreSQL server: release, grade, export and feedback give the same
scores as SQLite, and two graders writing at once (the autograder re-grading and a person scoring
written answers through nbgrader's API) both land.

PostgresSuite is mixed into a test class that provides `baseline`: a course with the same class
graded on SQLite (test_grading_at_scale.py).
"""
import csv
import threading
import time

import pytest
from nbgrader.api import Gradebook

from autograde.grading.course.layout import ASSIGNMENTS, make_course, manual_grade_ids
from autograde.grading.gradebook.database import cell_scores
from autograde.grading.course.release import generate_release
from autograde.grading.gradebook.database import DB_URL_VARIABLE, db_url
from autograde.grading.reports.export import export
from autograde.grading.reports.feedback import generate
from autograde.grading.reports.summary import table
from autograde.grading.scheduling.runner import grade_class
from autograde.grading.demo.samples import variants
from grading_suite import PIPELINE, submit_variants
from pg_server import postgres



class PostgresSuite:
    assignment = None

    @pytest.fixture(scope="class")
    @classmethod
    def database(cls):
        with postgres() as url:
            yield url

    @pytest.fixture
    def use_database(self, database, monkeypatch):
        """Each test on the server, as `--db-url` sets it (nbgrader_config.py reads the variable);
        only for that test: the other suites of the class keep their SQLite gradebooks."""
        monkeypatch.setenv(DB_URL_VARIABLE, database)
        return database

    @pytest.fixture(scope="class")
    @classmethod
    def on_postgres(cls, database, tmp_path_factory):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(DB_URL_VARIABLE, database)
            course = make_course(tmp_path_factory.mktemp("postgres"), [cls.assignment])
            generate_release(course, cls.assignment)  # nbgrader itself, in a subprocess: it reads the variable too
            submit_variants(course, cls.assignment)
            grade_class(course, settings=PIPELINE)
        return course

    def test_the_gradebook_is_on_the_server(self, on_postgres, use_database):
        database = use_database
        assert db_url(on_postgres) == database
        assert not (on_postgres / "gradebook.db").exists()
        with Gradebook(database) as gb:
            assert {s.student.id for s in gb.assignment_submissions(self.assignment)} == \
                {v.name for v in variants(self.assignment)}

    def test_scores_equal_sqlite(self, on_postgres, use_database, baseline):
        serial = cell_scores(baseline, self.assignment)  # the same class on SQLite
        assert cell_scores(on_postgres, self.assignment) == serial
        grades_csv, _, _ = export(on_postgres, on_postgres / "grades")
        totals = {row["student"]: float(row["score"]) for row in csv.DictReader(open(grades_csv))}
        assert totals == {student: sum(score for score, _ in cells.values()) for student, cells in serial.items()}
        assert "correct " in table(on_postgres)
        assert generate(on_postgres, [self.assignment], ["correct", "blank"]) == (2, [])  # nbgrader's feedback, on the server
        page = next((on_postgres / "feedback" / "blank" / self.assignment).glob("*.html")).read_text()
        assert "NotImplementedError" in page or "not implemented" in page

    def test_two_graders_at_once_both_land(self, on_postgres, use_database):
        database = use_database
        written = sorted(manual_grade_ids(self.assignment))
        students = ["correct", "blank"]
        scored = {}

        def grade_by_hand():  # a teaching assistant in the formgrader, meanwhile
            for round_ in range(3):
                for student in students:
                    with Gradebook(database) as gb:
                        for cell in written:
                            grade = gb.find_grade(cell, ASSIGNMENTS[self.assignment], self.assignment, student)
                            grade.manual_score = scored[student, cell] = (round_ + 1) * grade.max_score / 4
                            grade.needs_manual_grade = False
                        gb.db.commit()
                time.sleep(0.5)

        assistant = threading.Thread(target=grade_by_hand)
        assistant.start()
        results = grade_class(on_postgres, [self.assignment], students, PIPELINE)
        assistant.join()
        assert all(r.graded for r in results), [(r.student, r.reason) for r in results]
        with Gradebook(database) as gb:
            for student in students:
                for cell in written:
                    grade = gb.find_grade(cell, ASSIGNMENTS[self.assignment], self.assignment, student)
                    assert grade.manual_score == scored[student, cell]
        scores = cell_scores(on_postgres, self.assignment)
        autograded = [c for c in scores["correct"] if c not in written]
        assert autograded and all(scores["correct"][c][0] == scores["correct"][c][1] for c in autograded)
        assert all(scores["blank"][c][0] == 0 for c in autograded)
