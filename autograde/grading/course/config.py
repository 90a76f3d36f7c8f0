"""The course's nbgrader configuration and the errors that are the instructor's to fix.

Light to import (the command line reads it first): nbgrader loads where used.
"""
import os
import subprocess
import sys
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

EXCHANGE_VARIABLE = "BACKPROP_LAB_EXCHANGE"


def exchange_root(course):
    """The course's exchange: $BACKPROP_LAB_EXCHANGE, else <course>/exchange (a folder or a link)."""
    return Path(os.environ.get(EXCHANGE_VARIABLE) or Path(course).absolute() / "exchange").absolute()


class CourseError(RuntimeError):
    """The instructor's setup is wrong (not a student's file): the command exits non-zero."""


class NbgraderFailed(RuntimeError):
    """An nbgrader command itself failed (the course is broken, not a student)."""


def course_config(config_file, overrides=None):
    """The course's nbgrader config with `overrides` ({"Section.trait": value}) applied."""
    path = Path(config_file)
    config = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    extra = Config()
    for key, value in (overrides or {}).items():
        section, trait = key.rsplit(".", 1)
        target = extra
        for part in section.split("."):
            target = target[part]
        target[trait] = value
    config.merge(extra)
    return config


def put_interpreter_tools_on_path():
    """nbgrader runs `alembic` by name when it creates a gradebook; a virtual environment used
    without activating it (`.venv/bin/python -m ...`) has it only next to its interpreter."""
    tools = str(Path(sys.executable).parent)
    if tools not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = tools + os.pathsep + os.environ.get("PATH", "")


def nbgrader(workdir, *args, timeout=3600):
    """Run `nbgrader <args>` in `workdir` with this interpreter; raise NbgraderFailed on error."""
    put_interpreter_tools_on_path()
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=workdir,
        capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode != 0:
        raise NbgraderFailed(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result
