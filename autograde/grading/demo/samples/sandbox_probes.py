"""Sandbox probes: code a hostile student appends to an answer to find out what its kernel can reach.

Each prints one line, `probe <what>: <JSON of what it reached>`, which the end-to-end tests read
from the graded notebook: in the sandbox it must be empty (or, for the disk search, Python's own
files). bad_inputs.probe() fills in @COURSE_HEX@ (the course's path in hex, so that the path is
not in the code the feedback shows), @PORT@ (a port that listens on the grader's loopback),
@ASSIGNMENT@ and @NOTEBOOK@.
"""

SEARCH_DISK = '''
import json as _json
import os as _os


def _search_disk():
    """Every notebook with hidden tests and every gradebook this kernel can read, on the whole disk."""
    marker = "BEGIN HIDDEN " + "TESTS"  # in two pieces: this cell's own code is in the feedback
    found = []
    for folder, subfolders, files in _os.walk("/"):
        if folder in ("/proc", "/sys", "/dev"):
            subfolders[:] = []
            continue
        for name in files:
            path = _os.path.join(folder, name)
            try:
                if name.endswith(".ipynb"):
                    with open(path, errors="replace") as f:
                        if marker in f.read():
                            found.append(path)
                elif name.startswith("gradebook") and name.endswith(".db"):
                    open(path, "rb").close()
                    found.append(path)
            except OSError:
                pass
    here = _os.getcwd() + _os.sep
    return sorted("./" + p[len(here):] if p.startswith(here) else p for p in found)


print("probe disk:", _json.dumps(_search_disk()))
'''

READ_CLASSMATE = '''
import glob as _glob
import json as _json
import os as _os


def _read_classmates():
    """Other students' notebooks, the gradebook and the master, by every path this kernel could know."""
    course = bytes.fromhex("@COURSE_HEX@").decode()  # the course's absolute path, if the test gave it
    roots = [course] if course else []
    roots += [_os.environ[name] for name in ("PWD", "OLDPWD") if name in _os.environ]  # the grader's cwd?
    here = _os.getcwd()
    while here != _os.path.dirname(here):  # every folder above this one: the run's working copies
        roots.append(here)
        here = _os.path.dirname(here)
    paths = []
    for root in roots:
        paths += [_os.path.join(root, "gradebook.db"),
                  _os.path.join(root, "submitted", "correct", "@ASSIGNMENT@", "@NOTEBOOK@.ipynb"),
                  _os.path.join(root, "source", "@ASSIGNMENT@", "@NOTEBOOK@.ipynb"),
                  _os.path.join(root, "staged", "correct", "@ASSIGNMENT@", "@NOTEBOOK@.ipynb")]
        paths += _glob.glob(_os.path.join(root, "submitted", "*", "*", "*.ipynb"))
        paths += _glob.glob(_os.path.join(root, "staged", "*", "*", "*.ipynb"))
    read = []
    for path in sorted(set(paths)):
        try:
            with open(path, "rb") as f:
                f.read(1)
            read.append(path)
        except OSError:
            pass
    return read


print("probe classmate:", _json.dumps(_read_classmates()))
'''

OPEN_SOCKETS = '''
import json as _json
import socket as _socket


def _connect():
    """The grader's loopback (a port that listens there) and TEST-NET-3, an address never routed:
    only a connect attempt with a short timeout, no data is sent."""
    reached = []
    for host, port in (("127.0.0.1", @PORT@), ("203.0.113.1", 80)):
        connection = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        connection.settimeout(2)
        try:
            connection.connect((host, port))
            reached.append(f"{host}:{port}")
        except OSError:
            pass
        finally:
            connection.close()
    return reached


print("probe network:", _json.dumps(_connect()))
'''

LIST_PROCESSES = '''
import json as _json
import os as _os


def _other_processes():
    """Every process this kernel can see ("pid program") and the ones it could signal."""
    seen, signalled = [], []
    try:
        pids = sorted(int(name) for name in _os.listdir("/proc") if name.isdigit())
    except OSError:
        pids = []
    for pid in sorted(set(pids + [_os.getppid()]) - {_os.getpid()}):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                program = _os.path.basename(f.read().split(b"\\0")[0].decode(errors="replace"))
        except OSError:
            program = "?"
        seen.append(f"{pid} {program}")
        try:
            _os.kill(pid, 0)  # signal 0: may it be signalled? (nothing is sent)
            signalled.append(f"{pid} {program}")
        except OSError:
            pass
    return {"seen": seen, "signalled": signalled}


print("probe processes:", _json.dumps(_other_processes()))
'''

WRITE_OUTSIDE = '''
import json as _json
import os as _os
import sys as _sys
import sysconfig as _sysconfig

import autograde as _autograde


def _write_outside():
    """A new file in every folder that matters outside the working copy, or write access to a file."""
    course = bytes.fromhex("@COURSE_HEX@").decode()
    here = _os.getcwd()
    targets = ["/", "/root", "/work", "/etc", _sys.base_prefix, _sysconfig.get_path("purelib"),
               _os.path.dirname(_autograde.__file__), _os.path.dirname(_os.path.dirname(_os.path.dirname(here))),
               _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.dirname(here))), "gradebook.db")]
    if course:
        targets += [course, _os.path.join(course, "gradebook.db"), _os.path.join(course, "submitted"),
                    _os.path.join(course, "submitted", "correct", "@ASSIGNMENT@", "@NOTEBOOK@.ipynb")]
    written = []
    for target in targets:
        try:
            if _os.path.isdir(target):
                with open(_os.path.join(target, "sandbox-escape.txt"), "x") as f:
                    f.write("written by a student's kernel")
            else:
                open(target, "ab").close()  # write access is the point: nothing is written
            written.append(target)
        except OSError:
            pass
    return written


print("probe write:", _json.dumps(_write_outside()))
'''


WHO_AM_I = '''
import json as _json
import os as _os


def _who_am_i():
    """What its kernel is, seen from inside: its user, its capabilities and system-call filter, the
    processes and network interfaces it can see."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    with open("/proc/net/dev") as devices:
        interfaces = sorted(line.split(":")[0].strip() for line in devices.readlines()[2:])
    return {"uid": _os.getuid(), "capabilities": fields["CapEff"].strip(), "no_new_privs": fields["NoNewPrivs"].strip(),
            "seccomp": fields["Seccomp"].strip(), "interfaces": interfaces,
            "processes": sum(name.isdigit() for name in _os.listdir("/proc"))}


print("probe who_am_i:", _json.dumps(_who_am_i()))
'''
