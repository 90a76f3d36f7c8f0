"""The term, nbgrader's way: a local exchange, the roster, and what students fetch.

    python -m autograde setup --roster students.csv [--exchange DIR]

nbgrader moves files between instructor and students through an *exchange*, a folder everyone in
the course can reach (nbgrader's default, /usr/local/share/nbgrader/exchange, needs root and
does not exist on a fresh machine). This course's exchange is `exchange_root(course)`:
$BACKPROP_LAB_EXCHANGE when it is set, else `<course>/exchange`. nbgrader_config.py sets
`c.Exchange.root` from it, so every nbgrader entry point run in the course folder (the
command line, `python -m autograde`, the formgrader) finds the same one. `setup`:

  * makes the exchange with the permissions nbgrader's exchange expects: the root writable by
    all (sticky, like /tmp), `<root>/<course id>/outbound` (released assignments, readable by all),
    `inbound` (submissions: anyone may add, nobody may list; setgid) and `feedback` (each page
    readable only by who knows its name, a hash of the student's submission);
  * with `--exchange DIR` elsewhere (a machine shared by several users: students cannot reach the
    instructor's course folder), makes DIR that exchange and `<course>/exchange` a link to it;
  * writes the students' side: a config for nbgrader's Assignment List (`c.Exchange.root` and the
    course id), by default the environment's own `<sys.prefix>/etc/jupyter/nbgrader_config.py`, which every
    Jupyter started from this environment reads, whoever starts it and wherever;
  * makes the gradebook if there is none, with nbgrader's alembic stamp (and stamps one an earlier
    run left without it), and imports the roster, a CSV file with a column `id` and optionally
    first_name, last_name, email, lms_user_id, with nbgrader's own `nbgrader db student import`.

Releases to the exchange go through `ReleaseAssignment` (nbgrader_config.py makes it nbgrader's
release_assignment plugin): nbgrader's own release, then each released notebook gets the
language_info of this environment's kernel, the metadata JupyterLab rewrites on opening a
notebook. With it the student's copy opens unmodified; without it (the masters carry only
{"name": "python"}) every notebook opened already marked modified.

Feedback goes back through `ReleaseFeedback` (the release_feedback plugin): nbgrader's own, after
a submission that could not be graded has what nbgrader names a page by. Its feedback is one
page, not_graded.html, without the submission's timestamp and secret; nbgrader's release stopped
at it with FileNotFoundError (no feedback for anyone after it), and the student's Fetch Feedback
looks for a page named like the notebook.
"""
import copy
import glob
import json
import os
import shutil
import sqlite3
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.exchange.default import ExchangeReleaseAssignment, ExchangeReleaseFeedback

from autograde.grading.course.config import EXCHANGE_VARIABLE, CourseError, exchange_root

COURSE_ID = "backprop-lab"
MARK = "# Written by `python -m autograde setup`"  # a students' config setup may rewrite

# modes nbgrader's own exchange code gives these folders (exchange/default/*.py)
ROOT_MODE = 0o1777       # everyone may add a course; the sticky bit keeps others' entries safe
COURSE_MODE = 0o755
OUTBOUND_MODE = 0o755
INBOUND_MODE = 0o2733    # students drop submissions in, cannot list each other's
FEEDBACK_MODE = 0o711    # a page is found by its hashed name only

STUDENT_CONFIG = """{mark} for the course {course_id}: where nbgrader's
# Assignment List and a student's `nbgrader fetch_assignment` find released assignments and
# feedback, and which course they are. Every Jupyter started from this environment reads this
# file. {variable}, when set, wins (as in the course's own config).
import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)
c.Exchange.root = os.environ.get("{variable}") or {root!r}
c.CourseDirectory.course_id = {course_id!r}
"""


class SetupError(CourseError):
    """The course cannot be set up as asked (the command exits non-zero)."""


def default_student_config():
    """The environment's own Jupyter config folder: read by every Jupyter started from it."""
    return Path(sys.prefix) / "etc" / "jupyter" / "nbgrader_config.py"


@dataclass
class Setup:
    exchange: Path
    course_exchange: Path
    student_config: Path = None
    student_config_written: bool = False
    gradebook: str = ""
    stamped: bool = False
    students: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def setup(course, exchange=None, roster=None, student_config=None, course_id=COURSE_ID):
    """Set up `course` for a term; see the module's docstring. student_config: a path, or "" for none."""
    course = Path(course).absolute()
    if not (course / "nbgrader_config.py").is_file():
        raise SetupError(f"{course} has no nbgrader_config.py: is it a course folder?")
    students = read_roster(roster) if roster is not None else None  # refused before anything is made
    linked = course / "exchange"
    configured = exchange_root(course)
    root = Path(exchange).absolute() if exchange else configured
    result = Setup(exchange=root, course_exchange=configured)
    if root != configured:
        if os.environ.get(EXCHANGE_VARIABLE):
            raise SetupError(f"{EXCHANGE_VARIABLE} is {configured}: unset it, or set it to {root}")
        link_exchange(linked, root)
        result.notes.append(f"{linked} -> {root}")
    make_exchange(root, course_id)
    if student_config is None:
        student_config = default_student_config()
    if student_config:
        result.student_config = Path(student_config)
        result.student_config_written = write_student_config(Path(student_config), root, course_id)
        if not result.student_config_written:
            result.notes.append(f"{student_config} exists and was not written by setup: add to it\n"
                                f"    c.Exchange.root = {str(root.resolve())!r}")
    result.gradebook, result.stamped = ensure_gradebook(course, course_id)
    if students is not None:
        import_roster(course, Path(roster).absolute())
        result.students = students
    return result


def link_exchange(link, target):
    """Make `link` (the course's default exchange path) point to the shared exchange `target`."""
    if link.is_symlink():
        link.unlink()
    elif link.is_dir():
        if any(link.iterdir()):
            raise SetupError(f"{link} is a folder with files in it; move them to {target} (or remove it) "
                             "and run setup again")
        link.rmdir()
    elif link.exists():
        raise SetupError(f"{link} is in the way of the link to {target}")
    target.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)


def make_exchange(root, course_id=COURSE_ID):
    """The exchange folders of `course_id` under `root`, with the modes nbgrader's exchange uses."""
    root = Path(root)
    _folder(root, ROOT_MODE, shared=True)
    course = root / course_id
    _folder(course, COURSE_MODE)
    _folder(course / "outbound", OUTBOUND_MODE)
    _folder(course / "inbound", INBOUND_MODE)
    _folder(course / "feedback", FEEDBACK_MODE)
    return course


def _folder(path, mode, shared=False):
    path.mkdir(parents=True, exist_ok=True)
    current = stat.S_IMODE(path.stat().st_mode)
    if current == mode:
        return
    try:
        os.chmod(path, mode)
    except PermissionError:
        # someone else's shared root (made by an administrator) is fine if everyone can write it
        if not (shared and current & 0o777 == 0o777):
            raise SetupError(f"{path} has mode {oct(current)} and is not yours to change to {oct(mode)}") from None


def write_student_config(path, root, course_id=COURSE_ID):
    """Write the students' nbgrader config; False (untouched) if someone else wrote that file."""
    if path.exists() and MARK not in path.read_text():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STUDENT_CONFIG.format(mark=MARK, course_id=course_id, variable=EXCHANGE_VARIABLE,
                                          root=str(Path(root).resolve())))
    return True


def ensure_gradebook(course, course_id=COURSE_ID):
    """Make the gradebook if there is none (nbgrader stamps a new one with its alembic version) and
    stamp one that lacks the stamp (made while `alembic` was not on PATH). Returns (url, stamped)."""
    from nbgrader.api import Gradebook, get_alembic_version

    from autograde.grading.course.config import put_interpreter_tools_on_path
    from autograde.grading.gradebook.database import db_url

    put_interpreter_tools_on_path()  # nbgrader runs `alembic heads` by name
    url = db_url(course)
    with Gradebook(url, course_id):
        pass
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else None
    if path is None:
        return url, False
    db = sqlite3.connect(path)
    try:
        with db:
            if db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='alembic_version'").fetchone():
                if db.execute("SELECT count(*) FROM alembic_version").fetchone()[0]:
                    return url, False
            else:
                db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            db.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (get_alembic_version(),))
    finally:
        db.close()
    return url, True


def read_roster(roster):
    """The student ids of a roster CSV, or SetupError if nbgrader could not use it."""
    import csv

    if not Path(roster).is_file():
        raise SetupError(f"no roster file {roster}")
    with open(roster, newline="") as fh:
        reader = csv.DictReader(fh)
        if "id" not in [name.strip() for name in reader.fieldnames or []]:
            raise SetupError(f"{roster} has no column 'id' (columns: id, first_name, last_name, email, lms_user_id)")
        ids = [row["id"].strip() for row in reader if (row.get("id") or "").strip()]
    bad = [i for i in ids if "+" in i or "*" in i or "/" in i]
    if bad:
        raise SetupError(f"student ids may not contain '+', '*' or '/' (nbgrader's exchange names): {bad[:5]}")
    return ids


def import_roster(course, roster):
    """`nbgrader db student import <roster>` in the course: nbgrader's own import."""
    from autograde.grading.course.config import nbgrader

    nbgrader(course, "db", "student", "import", str(roster))


# --- what students receive ------------------------------------------------------------------------

def kernel_language_info():
    """The language_info this environment's Python kernel reports (what JupyterLab writes into a
    notebook when the kernel starts)."""
    from ipykernel.ipkernel import IPythonKernel

    return copy.deepcopy(IPythonKernel.language_info)


def stamp_language_info(path, language_info=None):
    """Give the notebook at `path` this environment's kernel language_info; True if it changed."""
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    info = language_info or kernel_language_info()
    if nb.get("metadata", {}).get("language_info") == info:
        return False
    nb.setdefault("metadata", {})["language_info"] = info
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


class ReleaseAssignment(ExchangeReleaseAssignment):
    """nbgrader's release to the exchange; each released notebook then carries this environment's
    kernel language_info, so that it opens in JupyterLab unmodified."""

    def copy_files(self):
        super().copy_files()
        info = kernel_language_info()
        for path in sorted(Path(self.dest_path).rglob("*.ipynb")):
            if ".ipynb_checkpoints" not in path.parts:
                stamp_language_info(path, info)


class ReleaseFeedback(ExchangeReleaseFeedback):
    """nbgrader's release of the feedback pages; a submission that could not be graded first gets
    its page under each of its notebooks' names, with the submission's timestamp and secret."""

    def copy_files(self):
        for folder in sorted(Path(p) for p in glob.glob(self.src_path) if os.path.isdir(p)):
            self.complete_not_graded(folder)
        super().copy_files()

    def complete_not_graded(self, folder):
        page = folder / "not_graded.html"
        if not page.is_file():
            return
        submitted = Path(self.coursedir.format_path(self.coursedir.submitted_directory, folder.parent.name,
                                                    self.coursedir.assignment_id))
        missing = [name for name in ("timestamp.txt", "submission_secret.txt") if not (folder / name).is_file()]
        if any(not (submitted / name).is_file() for name in missing):
            self.log.warning("Not releasing %s: %s has no %s", page, submitted, " or ".join(missing))
            page.unlink()  # nbgrader's release would stop at it
            return
        for name in missing:
            shutil.copy(submitted / name, folder / name)
        for notebook in sorted(submitted.glob("*.ipynb")):
            if not (folder / f"{notebook.stem}.html").exists():
                shutil.copy(page, folder / f"{notebook.stem}.html")
