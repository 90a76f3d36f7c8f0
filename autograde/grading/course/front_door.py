"""The one way every command opens a course: each thing that can be wrong with it becomes one
CourseError (one line for the instructor, exit 2), and nothing is created on the way.

A course folder exists, has its nbgrader_config.py, its gradebook answers (a file that exists, or
a database server that accepts a connection) and knows the assignments asked for.
"""
from pathlib import Path

from autograde.grading.course.config import CourseError
from autograde.grading.gradebook.database import db_url, gradebook_file

CONNECT_SECONDS = 5


def open_course(course, assignments=None, gradebook=True):
    """Check `course` and return {released assignment: [its notebooks]} ({} without `gradebook`).
    With `gradebook`, the gradebook must already exist (the release step makes it) and hold
    every one of `assignments`."""
    course = Path(course)
    if not course.is_dir():
        raise CourseError(f"{course} is not a folder: --course names the course folder (where nbgrader_config.py is)")
    if not (course / "nbgrader_config.py").is_file():
        raise CourseError(f"{course} has no nbgrader_config.py: is it a course folder?")
    if not gradebook:
        return {}
    url = db_url(course)
    path = gradebook_file(course)
    if path is not None and not path.is_file():
        raise CourseError(f"{course} has no gradebook yet ({path}): release an assignment first "
                          "(python -m autograde release)")
    released = read_released(url)
    unknown = [name for name in assignments or [] if name not in released]
    if unknown:
        known = ", ".join(sorted(released)) or "none"
        raise CourseError(f"no assignment {unknown[0]!r} in the gradebook (released: {known})")
    return released


def read_released(url):
    """{assignment: [notebook names]} from the gradebook at `url`, without creating anything."""
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)
    arguments = {"connect_timeout": CONNECT_SECONDS} if not url.startswith("sqlite") else {}
    engine = create_engine(url, connect_args=arguments)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("assignment"):
                raise CourseError(f"the gradebook at {shown} has no assignments yet: release one first")
            rows = connection.execute(text(
                "SELECT assignment.name, notebook.name FROM assignment "
                "LEFT JOIN notebook ON notebook.assignment_id = assignment.id ORDER BY assignment.name, notebook.name"))
            released = {}
            for assignment, notebook in rows:
                released.setdefault(assignment, []).extend([notebook] if notebook else [])
            return released
    except CourseError:
        raise
    except Exception as error:  # noqa: BLE001 (every driver's own error: the instructor gets one line)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CourseError(f"the gradebook's database at {shown} does not answer: {first[:200]}") from None
    finally:
        engine.dispose()
