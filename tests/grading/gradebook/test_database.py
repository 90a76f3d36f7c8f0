"""The gradebook (autograde/grading/gradebook/database.py): the workers' template."""
import re
import sqlite3
from pathlib import Path

import nbgrader
from nbgrader.api import Gradebook

from autograde.grading.gradebook.database import stamped_in_process, template


def newest_nbgrader_migration():
    """The revision no other of nbgrader's migrations builds on: what `alembic heads` prints, which
    nbgrader stamps a new gradebook with (read from the files here, without running alembic)."""
    revisions, bases = set(), set()
    for migration in (Path(nbgrader.__file__).parent / "alembic" / "versions").glob("*.py"):
        text = migration.read_text()
        revisions.add(re.search(r"^revision = '(\w+)'", text, re.M).group(1))
        bases.add(re.search(r"^down_revision = '?(\w+)'?", text, re.M).group(1))
    [head] = revisions - bases
    return head


def test_the_workers_gradebook_template_is_stamped_as_nbgrader_stamps_and_has_no_students(tmp_path):
    """The template gets the schema version from alembic in-process instead of nbgrader's `alembic
    heads` subprocess: it must be the version nbgrader itself stamps, with the assignments and no students."""
    course = tmp_path / "course"
    course.mkdir()
    with stamped_in_process(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_assignment("hw")
        gb.add_student("ann")
    template(course, tmp_path / "template.db")
    with sqlite3.connect(tmp_path / "template.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(newest_nbgrader_migration(),)]
        assert db.execute("SELECT name FROM assignment").fetchall() == [("hw",)]
        assert db.execute("SELECT count(*) FROM student").fetchone() == (0,)
