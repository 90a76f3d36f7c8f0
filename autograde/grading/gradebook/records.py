"""One record per graded submission: graded or not, why not, and the grader's flags.

The pipeline writes it once per grading, next to the graded notebooks
(autograded/.grading/<assignment>/<student>.json; nbgrader skips dot folders), and the
summary, the CSV export and the feedback all read it from there.
"""
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

RECORDS_DIR = ".grading"


@dataclass
class Record:
    assignment: str
    student: str
    graded: bool
    reason: str = ""                            # why it could not be graded
    flags: list = field(default_factory=list)   # [{"code", "cell", "message"}] (see flags.LEGEND)
    seconds: float = 0.0
    protections: list = field(default_factory=list)  # what confined its kernel: sandbox.Plan.protections()

    @property
    def key(self):
        return self.assignment, self.student


def records_root(course):
    return Path(course) / "autograded" / RECORDS_DIR


def record_path(course, assignment, student):
    return records_root(course) / assignment / f"{student}.json"


def read_record(course, assignment, student):
    path = record_path(course, assignment, student)
    return Record(**json.loads(path.read_text())) if path.is_file() else None


def write_record(course, record):
    path = record_path(course, record.assignment, record.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(record), indent=1))
    return path


def recorded_submissions(course, assignments=None, students=None):
    """[(assignment, student)] of every record, sorted."""
    found = []
    root = records_root(course)
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if assignments and folder.name not in assignments:
            continue
        found += [(folder.name, path.stem) for path in sorted(folder.glob("*.json"))
                  if not students or path.stem in students]
    return found
