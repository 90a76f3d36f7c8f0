"""The command line's front door (autograde/grading/course/front_door.py): every mistake an instructor
can make when naming the course, an assignment, the workers or the database is one line on stderr
and exit 2, before anything starts, and creates nothing."""
import os
import shutil
import subprocess
import sys

import pytest

from autograde.grading.cli import main as cli
from autograde.grading.course.layout import make_course
from autograde.grading.course.release import generate_release

ASSIGNMENT = "01_chain_rule"


def snapshot(folder):
    """Every path under `folder` with its size and modification time."""
    return {path: (stat.st_size, stat.st_mtime_ns) for path in folder.rglob("*") for stat in [path.lstat()]}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("front-door") / "course", [ASSIGNMENT])
    generate_release(course, ASSIGNMENT)
    return course


@pytest.fixture
def course(released, tmp_path):
    copy = tmp_path / "course"
    shutil.copytree(released, copy)
    return copy


def one_line_refusal(capsys, argv, *words):
    status = cli(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), (status, captured.err)
    assert all(word in lines[0] for word in words), lines[0]
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


@pytest.mark.parametrize("command", ["export", "report", "feedback", "summary", "grade"])
def test_a_course_folder_that_does_not_exist_is_refused_and_not_created(command, tmp_path, capsys):
    typo = tmp_path / "cuorse"
    one_line_refusal(capsys, [command, "--course", str(typo)], str(typo), "not a folder")
    assert not typo.exists()


@pytest.mark.parametrize("command", ["export", "report", "feedback", "summary", "grade"])
def test_an_unknown_assignment_is_refused_and_nothing_is_written(command, course, capsys):
    before = snapshot(course)
    one_line_refusal(capsys, [command, "--course", str(course), "-a", "99_nope"], "99_nope", ASSIGNMENT)
    assert snapshot(course) == before


@pytest.mark.parametrize("command", ["export", "report", "feedback", "summary"])
def test_a_folder_without_a_gradebook_is_refused_and_given_none(command, course, capsys):
    os.remove(course / "gradebook.db")
    before = snapshot(course)
    one_line_refusal(capsys, [command, "--course", str(course)], "no gradebook", "release")
    assert snapshot(course) == before


def test_grading_an_unknown_assignment_starts_no_worker(course, capsys):
    """Refused before any worker process starts: nothing of multiprocessing's is running after."""
    import multiprocessing

    before = {child.pid for child in multiprocessing.active_children()}
    one_line_refusal(capsys, ["grade", "--course", str(course), "-a", "99_nope", "--no-progress"], "99_nope")
    assert {child.pid for child in multiprocessing.active_children()} == before


@pytest.mark.parametrize("workers", ["-1", "two"])
def test_a_wrong_number_of_workers_is_one_line(workers, course, capsys):
    before = snapshot(course)
    one_line_refusal(capsys, ["grade", "--course", str(course), "-j", workers], workers)
    assert snapshot(course) == before


def test_a_database_server_that_does_not_answer_is_one_line(course, capsys):
    # a port on this machine where nothing listens: refused at once
    url = "postgresql+psycopg://grader:secret@127.0.0.1:9/course"
    before = snapshot(course)
    line = one_line_refusal(capsys, ["summary", "--course", str(course), "--db-url", url], "does not answer", "127.0.0.1")
    assert "secret" not in line  # the password is not printed
    assert snapshot(course) == before
    os.environ.pop("BACKPROP_LAB_DB_URL", None)


def test_the_top_level_help_lists_each_command_once():
    result = subprocess.run([sys.executable, "-m", "autograde", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("setup", "release", "grade", "feedback", "export", "summary", "report", "demo"):
        assert sum(line.strip().startswith(command + " ") for line in result.stdout.splitlines()) == 1, command
