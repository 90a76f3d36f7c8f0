"""Scratch courses for the end-to-end suites."""
import shutil

import pytest

from autograde.grading.course.release import generate_release
from autograde.grading.course.layout import make_course


@pytest.fixture(scope="session")
def released(tmp_path_factory):
    """released(folder, assignment) -> a scratch course in `folder` with `assignment` released: its
    release folder and gradebook as `nbgrader generate_assignment` made them, once per test process
    for each assignment, then copied (a gradebook on a server needs nbgrader itself: not this)."""
    made = {}

    def course_in(folder, assignment):
        if assignment not in made:
            made[assignment] = make_course(tmp_path_factory.mktemp(f"released-{assignment}"), [assignment])
            generate_release(made[assignment], assignment)
        course = make_course(folder, [assignment])
        shutil.copytree(made[assignment] / "release", course / "release")
        shutil.copy(made[assignment] / "gradebook.db", course / "gradebook.db")
        return course
    return course_in
