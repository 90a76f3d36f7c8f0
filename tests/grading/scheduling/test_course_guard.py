"""The course guard (autograde/grading/scheduling/course_guard.py): it sees writes to the course
by anyone but the grader."""
import time

from autograde.grading.scheduling.course_guard import CourseGuard

COARSE_CLOCK = 100_000_000  # file times come from the kernel's coarse clock (a tick or so behind)


def paths(changes):
    return [path for path, _ in changes]


def test_guard_sees_other_writes_and_not_its_own(tmp_path):
    (tmp_path / "submitted" / "ann" / "hw").mkdir(parents=True)
    work = tmp_path / "submitted" / "ann" / "hw" / "hw.ipynb"
    work.write_text("{}")
    (tmp_path / "gradebook.db").write_text("db")
    guard = CourseGuard(tmp_path, tmp_path / "gradebook.db")
    assert guard.changes() == [] and not guard.gradebook_changed()
    (tmp_path / "gradebook.db").write_text("db")  # same content, but written: still a change
    assert guard.gradebook_changed() and str(tmp_path / "gradebook.db") in paths(guard.changes())
    guard.accept_gradebook()
    assert not guard.gradebook_changed()
    graded = tmp_path / "autograded" / "bob" / "hw"
    graded.mkdir(parents=True)  # the grader's own output
    (graded / "hw.ipynb").write_text("{}")
    guard.accept(graded)
    assert guard.changes() == []
    guard.forget(graded)  # the grader replaces it with fewer files
    (graded / "hw.ipynb").unlink()
    guard.accept(graded)
    assert guard.changes() == []
    before = time.time_ns()
    work.write_text("{}")
    [(path, when)] = guard.changes()
    assert path == str(work) and before - COARSE_CLOCK <= when <= time.time_ns()


def test_guard_dates_a_deletion_by_its_folder(tmp_path):
    (tmp_path / "submitted" / "ann").mkdir(parents=True)
    gone = tmp_path / "submitted" / "ann" / "hw.ipynb"
    gone.write_text("{}")
    guard = CourseGuard(tmp_path)
    before = time.time_ns()
    gone.unlink()
    changes = dict(guard.changes())
    assert set(changes) == {str(gone), str(gone.parent)}
    assert before - COARSE_CLOCK <= changes[str(gone)] <= time.time_ns()
