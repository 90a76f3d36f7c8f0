"""The command line (autograde/grading/cli.py) as the instructor types it."""
import subprocess
import sys

from autograde.grading.cli import main as cli
from autograde.grading.course.layout import ROOT


def test_help_lists_the_commands():
    """`python -m autograde --help` as the instructor types it (a subprocess: the entry point is the point)."""
    result = subprocess.run([sys.executable, "-m", "autograde", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("release", "grade", "feedback", "export", "demo"):
        assert command in result.stdout


def test_instructor_errors_exit_non_zero(tmp_path, capsys):
    assert cli(["grade", "--course", str(tmp_path)]) == 2
    assert "nbgrader_config.py" in capsys.readouterr().err
    assert cli(["release", "--course", str(ROOT), "-a", "99_no_such_assignment"]) == 2
    assert "no source/99_no_such_assignment" in capsys.readouterr().err
    (tmp_path / "nbgrader_config.py").write_text("")
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "precious.txt").write_text("keep me")
    assert cli(["demo", "--workdir", str(tmp_path / "demo")]) == 2
    assert (tmp_path / "demo" / "precious.txt").exists()
