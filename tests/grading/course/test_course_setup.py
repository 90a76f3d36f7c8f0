"""`python -m autograde setup` and the course config behind the term (autograde/grading/course/exchange.py):
the exchange with nbgrader's modes, a shared one linked, the students' config, the roster through
nbgrader's own import, a gradebook stamped; nbgrader_config.py puts alembic on PATH, names the
exchange and lists the preprocessors as import strings; a release to the exchange opens unmodified."""
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default import ExchangeCollect, ExchangeFetchAssignment, ExchangeFetchFeedback, ExchangeSubmit
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from autograde.grading.cli import main as cli
from autograde.grading.course.layout import ROOT, notebook_path
from autograde.grading.course.exchange import (
    EXCHANGE_VARIABLE,
    MARK,
    ReleaseAssignment,
    ReleaseFeedback,
    SetupError,
    exchange_root,
    kernel_language_info,
    setup,
)

ASSIGNMENT = "01_chain_rule"
ROSTER = "id,first_name,last_name,email\nalice,Alice,Archer,alice@example.org\nbob,Bob,Baker,\n"


@pytest.fixture(scope="module")
def new_gradebook(tmp_path_factory):
    """An empty gradebook as nbgrader makes it (made once: nbgrader runs `alembic heads` for each)."""
    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    with Gradebook(f"sqlite:///{path}", "backprop-lab"):
        pass
    return path


@pytest.fixture
def course(tmp_path, monkeypatch, new_gradebook):
    """A course folder with the config, chapter 1's release and an empty gradebook."""
    monkeypatch.delenv(EXCHANGE_VARIABLE, raising=False)
    root = tmp_path / "course"
    (root / "release").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(ROOT / "release" / ASSIGNMENT, root / "release" / ASSIGNMENT)
    shutil.copy(new_gradebook, root / "gradebook.db")
    (tmp_path / "students.csv").write_text(ROSTER)
    return root


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def tables(db):
    connection = sqlite3.connect(db)
    try:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        connection.close()


def test_setup_makes_the_exchange_the_roster_and_the_students_config(course, tmp_path, capsys):
    student_config = tmp_path / "etc" / "jupyter" / "nbgrader_config.py"
    assert cli(["setup", "--course", str(course), "--roster", str(tmp_path / "students.csv"),
                "--student-config", str(student_config)]) == 0
    assert "roster: 2 students" in capsys.readouterr().out
    root = course / "exchange"
    assert mode(root) == 0o1777  # anyone may add, nobody may remove another's entry
    assert mode(root / "backprop-lab" / "outbound") == 0o755
    assert mode(root / "backprop-lab" / "inbound") == 0o2733
    assert mode(root / "backprop-lab" / "feedback") == 0o711
    assert MARK in student_config.read_text()
    loaded = {}
    exec(student_config.read_text(), {"get_config": lambda: loaded.setdefault("c", Config())})
    assert loaded["c"].Exchange.root == str(root.resolve())
    assert "alembic_version" in tables(course / "gradebook.db")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "backprop-lab") as gb:
        assert {(s.id, s.last_name, s.email) for s in gb.students} == {
            ("alice", "Archer", "alice@example.org"), ("bob", "Baker", None)}


def test_setup_again_changes_nothing_it_need_not(course, tmp_path):
    first = setup(course, student_config=tmp_path / "students.py")
    again = setup(course, student_config=tmp_path / "students.py")
    assert first.exchange == again.exchange and again.student_config_written and not again.stamped


def test_a_shared_exchange_is_linked_from_the_course(course, tmp_path):
    shared = tmp_path / "srv" / "exchange"
    done = setup(course, exchange=shared, student_config=tmp_path / "students.py")
    assert (course / "exchange").is_symlink() and (course / "exchange").resolve() == shared.resolve()
    assert (shared / "backprop-lab" / "inbound").is_dir()
    assert repr(str(shared.resolve())) in (tmp_path / "students.py").read_text()  # not through the course
    assert done.exchange == shared


def test_an_exchange_folder_with_files_is_not_replaced_by_a_link(course, tmp_path):
    (course / "exchange").mkdir()
    (course / "exchange" / "something").write_text("kept")
    with pytest.raises(SetupError, match="has files in it|with files in it"):
        setup(course, exchange=tmp_path / "elsewhere", student_config="")
    assert (course / "exchange" / "something").read_text() == "kept"


def test_the_environment_variable_names_the_exchange(course, tmp_path, monkeypatch):
    monkeypatch.setenv(EXCHANGE_VARIABLE, str(tmp_path / "from_env"))
    assert exchange_root(course) == tmp_path / "from_env"
    setup(course, student_config="")
    assert (tmp_path / "from_env" / "backprop-lab" / "outbound").is_dir()
    assert not (course / "exchange").exists()
    with pytest.raises(SetupError, match=EXCHANGE_VARIABLE):
        setup(course, exchange=tmp_path / "other", student_config="")


def test_someone_elses_students_config_is_left_alone(course, tmp_path):
    theirs = tmp_path / "nbgrader_config.py"
    theirs.write_text("c = get_config()\nc.Exchange.root = '/srv/theirs'\n")
    done = setup(course, student_config=theirs)
    assert not done.student_config_written and "/srv/theirs" in theirs.read_text()
    assert any("c.Exchange.root" in note for note in done.notes)


def test_a_gradebook_left_without_its_alembic_stamp_is_stamped(course, tmp_path):
    connection = sqlite3.connect(course / "gradebook.db")
    connection.execute("DROP TABLE alembic_version")
    connection.commit()
    connection.close()
    done = setup(course, student_config="")
    assert done.stamped and "alembic_version" in tables(course / "gradebook.db")


@pytest.mark.parametrize("roster, message", [
    ("student,email\nalice,a@example.org\n", "no column 'id'"),
    ("id\nalice+1\n", "may not contain"),
])
def test_a_bad_roster_is_refused_before_anything_is_imported(course, tmp_path, roster, message):
    (tmp_path / "bad.csv").write_text(roster)
    with pytest.raises(SetupError, match=message):
        setup(course, roster=tmp_path / "bad.csv", student_config="")
    assert not (course / "exchange").exists()


# --- the course config, as every nbgrader entry point loads it --------------------------------------

LOAD_CONFIG = r"""
import json, os, sys, tempfile
from traitlets.config.loader import PyFileConfigLoader
config = PyFileConfigLoader("nbgrader_config.py", path=sys.argv[1]).load_config()
from nbgrader.api import Gradebook
db = os.path.join(tempfile.mkdtemp(), "gradebook.db")
Gradebook(f"sqlite:///{db}").close()
import sqlite3
stamped = sqlite3.connect(db).execute("SELECT version_num FROM alembic_version").fetchall()
print(json.dumps({"config": config, "stamped": stamped}))
"""


def test_every_entry_point_finds_alembic_and_the_exchange_and_can_show_the_config(course):
    """nbgrader_config.py, loaded by a process whose PATH lacks the environment's bin folder (a
    `.venv/bin/jupyter lab` not activated): a new gradebook gets its stamp; the config is JSON."""
    environment = {k: v for k, v in os.environ.items() if k not in (EXCHANGE_VARIABLE, "VIRTUAL_ENV")}
    environment["PATH"] = "/usr/bin:/bin"
    result = subprocess.run([sys.executable, "-c", LOAD_CONFIG, str(course)], capture_output=True, text=True,
                            env=environment, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])  # json.dumps worked: the formgrader can show it
    assert loaded["stamped"], "the new gradebook has no alembic stamp"
    config = loaded["config"]
    assert config["Exchange"]["root"] == str(course / "exchange")
    steps = (config["Autograde"]["sanitize_preprocessors"] + config["Autograde"]["autograde_preprocessors"]
             + config["GenerateFeedback"]["preprocessors"] + [config["ExchangeFactory"]["release_assignment"]])
    for step in steps:
        assert isinstance(step, str) and isinstance(import_item(step), type), step


# --- the exchange, with nbgrader's own exchange code ------------------------------------------------

def exchange_config(course, **settings):
    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.course_id = "backprop-lab"
    config.CourseDirectory.assignment_id = ASSIGNMENT
    config.Exchange.root = str(course / "exchange")
    for key, value in settings.items():
        section, trait = key.split("__")
        config[section][trait] = value
    return config


def run(action, config, **kwargs):
    action(coursedir=CourseDirectory(config=config), authenticator=Authenticator(config=config), config=config,
           **kwargs).start()


def test_a_release_opens_unmodified_and_goes_round_the_exchange(course, tmp_path):
    setup(course, student_config="")
    committed = nbformat.read(notebook_path(course, "release", ASSIGNMENT), as_version=4)
    run(ReleaseAssignment, exchange_config(course))
    released = course / "exchange" / "backprop-lab" / "outbound" / ASSIGNMENT / "chain_rule.ipynb"
    nb = nbformat.read(released, as_version=4)
    # what JupyterLab would write on opening it is already there: the kernel's language_info
    assert nb.metadata.language_info == kernel_language_info()
    assert nb.metadata.kernelspec == committed.metadata.kernelspec
    assert [c.source for c in nb.cells] == [c.source for c in committed.cells]

    student = tmp_path / "alice"
    student.mkdir()
    here = os.getcwd()
    os.chdir(student)
    try:
        run(ExchangeFetchAssignment, exchange_config(course, Exchange__assignment_dir=str(student)))
        assert (student / ASSIGNMENT / "chain_rule.ipynb").is_file()  # the student's folder, not release/
        run(ExchangeSubmit, exchange_config(course, Exchange__assignment_dir=str(student),
                                            Exchange__cache=str(tmp_path / "cache"),
                                            CourseDirectory__student_id="alice"))
    finally:
        os.chdir(here)
    run(ExchangeCollect, exchange_config(course, CourseDirectory__db_url=f"sqlite:///{course / 'gradebook.db'}"))
    assert (course / "submitted" / "alice" / ASSIGNMENT / "chain_rule.ipynb").is_file()
    assert (course / "submitted" / "alice" / ASSIGNMENT / "timestamp.txt").is_file()

    # a submission that could not be graded has one page, not_graded.html (reports/feedback.py),
    # without the files nbgrader names a page by: it still reaches the student, as her notebook's page
    page = course / "feedback" / "alice" / ASSIGNMENT / "not_graded.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html><body>01_chain_rule: your submission could not be graded</body></html>")
    run(ReleaseFeedback, exchange_config(course))
    os.chdir(student)
    try:
        run(ExchangeFetchFeedback, exchange_config(course, Exchange__assignment_dir=str(student),
                                                   Exchange__cache=str(tmp_path / "cache"),
                                                   CourseDirectory__student_id="alice"))
    finally:
        os.chdir(here)
    [fetched] = (student / ASSIGNMENT / "feedback").glob("*/chain_rule.html")
    assert "could not be graded" in fetched.read_text()


def test_a_students_plain_nbgrader_finds_the_course_from_the_config_setup_wrote(course, tmp_path):
    """`nbgrader fetch_assignment` and `list` as a student types them, with nothing but the students'
    config: it names the exchange and the course, so no "No course id specified"."""
    etc = tmp_path / "etc" / "jupyter"
    setup(course, student_config=str(etc / "nbgrader_config.py"))
    run(ReleaseAssignment, exchange_config(course))
    student = tmp_path / "alice"
    student.mkdir()
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(etc), "HOME": str(tmp_path)}
    nbgrader = [sys.executable, "-m", "nbgrader"]
    listed = subprocess.run(nbgrader + ["list"], cwd=student, env=env, capture_output=True, text=True)
    assert listed.returncode == 0 and ASSIGNMENT in listed.stdout + listed.stderr, listed.stderr
    fetched = subprocess.run(nbgrader + ["fetch_assignment", ASSIGNMENT], cwd=student, env=env,
                             capture_output=True, text=True)
    assert fetched.returncode == 0, fetched.stderr
    assert (student / ASSIGNMENT / "chain_rule.ipynb").is_file()
