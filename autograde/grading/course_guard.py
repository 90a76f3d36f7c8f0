"""Check after each run that student code changed nothing in the course, and undo it if it did.

Kernels run as an unprivileged user when the grader is root, and then cannot write the course
at all. A grader that is not root cannot take that right away from its own kernels, so every
file that matters (gradebook, submissions, graded notebooks, sources, releases, the grader's
staged copies) is fingerprinted by its stat record; a change the grader did not make itself
is found after the run that made it, and undone from the copies taken before grading began.
The status-change time (ctime) cannot be set by a process, so a write cannot hide itself.
"""
import os
import shutil
from pathlib import Path

WATCHED = ("gradebook.db", "nbgrader_config.py", "source", "release", "submitted", "autograded")
TRANSIENT = ("-journal", "-wal", "-shm")  # sqlite's own scratch files


def fingerprint(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode


def scan(roots):
    """{path: fingerprint} of every file and folder under `roots` (symlinks not followed)."""
    found = {}
    stack = [Path(root) for root in roots]
    while stack:
        path = stack.pop()
        if path.name.endswith(TRANSIENT):
            continue
        print_ = fingerprint(path)
        if print_ is None:
            continue
        found[str(path)] = print_
        if path.is_dir() and not path.is_symlink():
            try:
                stack.extend(Path(entry.path) for entry in os.scandir(path))
            except (PermissionError, FileNotFoundError):
                pass
    return found


class CourseGuard:
    """Fingerprints of the protected files; `changes()` lists what changed since the last look."""

    def __init__(self, course, extra_roots=()):
        self.roots = [Path(course) / name for name in WATCHED] + [Path(p) for p in extra_roots]
        self.known = scan(self.roots)

    def changes(self):
        now = scan(self.roots)
        changed = sorted(p for p in set(now) | set(self.known) if now.get(p) != self.known.get(p))
        return changed

    def accept(self, *paths):
        """The grader itself wrote `paths` (files or trees): take them as they are now."""
        for path in paths:
            path = Path(path)
            for known in [k for k in self.known if k == str(path) or k.startswith(str(path) + os.sep)]:
                del self.known[known]
            if path.exists() or path.is_symlink():
                self.known.update(scan([path]))
            for parent in path.parents:  # creating or deleting an entry touches its folders
                if not any(parent == root or root in parent.parents for root in self.roots):
                    break
                print_ = fingerprint(parent)
                if print_ is None:
                    self.known.pop(str(parent), None)
                else:
                    self.known[str(parent)] = print_

    def accept_all(self):
        self.known = scan(self.roots)


def restore_tree(backup, target):
    """Make `target` (a submission folder) exactly the `backup` copy again."""
    target = Path(target)
    if target.is_symlink() or target.is_file():
        target.unlink()
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(backup, target, symlinks=True)
