"""Submissions that go after the grader's own machinery rather than their own grade: the descriptors
a kernel holds, what the grader writes after the kernel ends, and the grader's resources. Each is a
bad input (bad_inputs.BAD_INPUTS) for every assignment; the tests grade them before and beside
honest classmates, who must keep their marks.
"""
import nbformat

from autograde.grading.demo.samples import correct_submission

# Everything a kernel holds: peek at what it could read, then write replies the fork server's
# worker would take for its own (JSON lines and multiprocessing's framing, ids 1 to 99), to every
# descriptor above the standard streams. What it holds are its own kernel's sockets and pipes, so
# it only breaks its own kernel.
WRITE_DESCRIPTORS = """
import json as _json, os as _os, socket as _socket, struct as _struct

_replies = [_json.dumps({"id": _i, "ok": True, "pid": 1, "returncode": 0, "killed": 0, "threads": 1,
                         "extra_mb": 0}).encode() for _i in range(1, 100)]
_garbage = b"".join(_r + b"\\n" for _r in _replies) + b"".join(_struct.pack("!i", len(_r)) + _r for _r in _replies)
_held, _heard = {}, {}
for _fd in range(3, 1024):
    try:
        _held[_fd] = _os.readlink(f"/proc/self/fd/{_fd}")
    except OSError:
        continue
    if _held[_fd].startswith("socket:"):
        try:
            _peek = _socket.socket(fileno=_os.dup(_fd))
            _peek.setblocking(False)
            _heard[_fd] = len(_peek.recv(65536, _socket.MSG_PEEK))
        except OSError:
            pass
print("probe write_descriptors:", _json.dumps({"held": _held, "heard": _heard}), flush=True)
for _fd in _held:
    try:
        _os.write(_fd, _garbage)
    except OSError:
        pass
"""

# Links where the grader writes after the kernel ends (the notebook's name, a file beside it),
# in its folder and in the folders around it, to two files outside the course (`victims/` beside
# it, which a test makes: one private, one readable).
SYMLINK_OUT = """
import json as _json, os as _os

_victims = _os.path.join(_os.path.dirname(bytes.fromhex("@COURSE_HEX@").decode()), "victims")
_made = []
for _name, _target in (("@NOTEBOOK@.ipynb", "private.txt"), ("notes.txt", "notes.txt")):
    for _where in (".", "..", "../@ASSIGNMENT@"):
        _link = _os.path.join(_where, _name)
        try:
            if _os.path.lexists(_link):
                _os.unlink(_link)
            _os.symlink(_os.path.join(_victims, _target), _link)
            _made.append(_link)
        except OSError:
            pass
print("probe symlink_out:", _json.dumps(_made))
"""

# A folder in /tmp that its own user cannot delete (read-only, with a file inside), for the next
# submission's kernel to find.
LOCKED_TMP = """
import json as _json, os as _os

_os.makedirs("/tmp/locked/inner", exist_ok=True)
with open("/tmp/locked/inner/answers.txt", "w") as _f:
    _f.write("left for the next student")
_os.chmod("/tmp/locked/inner", 0o555)
_os.chmod("/tmp/locked", 0o555)
print("probe locked_tmp:", _json.dumps(sorted(_os.listdir("/tmp"))))
"""

# Sixty images of 1.9 MB each (base64), each under the per-output cap.
LARGE_IMAGES = """
import base64 as _base64, os as _os
from IPython.display import display as _display

_picture = _base64.b64encode(_os.urandom(1_400_000)).decode()
for _ in range(60):
    _display({"image/png": _picture}, raw=True)
"""


def many_cells(assignment, count=20_000):
    nb = correct_submission(assignment)
    nb.cells += [nbformat.v4.new_code_cell("pass") for _ in range(count)]
    return nb


def huge_cell(assignment, megabytes=5):
    nb = correct_submission(assignment)
    nb.cells.append(nbformat.v4.new_code_cell("# " + "x" * (megabytes * 2**20)))
    return nb
