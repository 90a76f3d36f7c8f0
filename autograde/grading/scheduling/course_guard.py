"""Find out whether student code changed the course, when, and undo it.

Sandboxed kernels cannot reach the course at all; this is the check behind that wall, and the
only one where grading runs unsandboxed. Every file that matters (gradebook, submissions,
graded notebooks, sources, releases, the grader's staged copies) is fingerprinted by its stat
record once before grading. The status-change time (ctime) cannot be set by a process, so a
write cannot hide itself, and it says when the change happened: the runs in flight at that time
are the suspects. The cost per graded notebook is what the grader writes itself (its own files
are taken as they are now) plus one look at the gradebook, which the grader rewrites after every
notebook and so must be checked then; everything else is compared once, at the end.
"""
import os
import shutil
from pathlib import Path

WATCHED = ("nbgrader_config.py", "source", "release", "submitted", "autograded")
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


def changed_at(path):
    """When `path` last changed (ns since the epoch): its ctime, or its nearest folder's if it is gone."""
    path = Path(path)
    while True:
        print_ = fingerprint(path)
        if print_ is not None:
            return print_[2]
        if path == path.parent:
            return 0
        path = path.parent


class CourseGuard:
    """Fingerprints of the protected files as the grader left them."""

    def __init__(self, course, gradebook_file=None, extra_roots=()):
        """`gradebook_file`: the SQLite gradebook, or None for one on a server (not a file to watch)."""
        self.gradebook = str(gradebook_file) if gradebook_file else None
        self.roots = [Path(course) / name for name in WATCHED] + [Path(p) for p in extra_roots]
        self.roots += [Path(self.gradebook)] if self.gradebook else []
        self.known = scan(self.roots)
        self.written = {}  # path the grader wrote -> the entries it wrote there

    def gradebook_changed(self):
        return self.gradebook is not None and fingerprint(self.gradebook) != self.known.get(self.gradebook)

    def accept_gradebook(self):
        """The grader itself wrote the gradebook."""
        if self.gradebook:
            self.accept(self.gradebook)

    def changes(self):
        """[(path, when)] of every change since the grader last took the files as they are."""
        now = scan(self.roots)
        changed = sorted(p for p in set(now) | set(self.known) if now.get(p) != self.known.get(p))
        return [(path, changed_at(path)) for path in changed]

    def forget(self, path):
        """The grader is about to replace `path` (a file or a tree): drop what is known under it."""
        for known in set(scan([path])) | self.written.pop(str(path), set()) | {str(path)}:
            self.known.pop(known, None)

    def accept(self, *paths):
        """The grader itself wrote `paths` (files or trees): take them, and their folders, as they are now."""
        for path in map(Path, paths):
            entries = scan([path])
            self.known.update(entries)
            self.written[str(path)] = set(entries)
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
