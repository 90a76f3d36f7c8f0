"""What a test cell shows in the student's notebook besides what its code prints.

A test cell that passed ends with one line saying what was verified:

    ✓ f, dx, dy match the reference
    ✓ dx, dy match autograd

The chapters' checks note every comparison they make (`passed`, `failed`, called by
check_gradient, check_value and compare_all); an IPython post_run_cell hook prints the line when
the cell ran without an error and every comparison noted in it passed. Only comparisons made on
behalf of a chapter's check (autograde.chapters) are noted: a student's own check_gradient against
a numerical gradient, or a lecture's compare_all, prints nothing more.

A test cell that failed shows the error without the grader's own frames. The check's message is
the feedback; the frames of the chapter's check, of check.py and of the guard only push it down
the page (and the Validate dialog repeats them for every cell). A custom IPython exception handler
drops every frame of the autograde package and every frame marked `__tracebackhide__`. What is
left: for a check that failed on what the student's code returned, the check's message alone
(`GradientMismatch: dx is wrong ...`), as the Validate dialog then shows it under the cell; for an
error in the student's code (or autograd called from it), the usual traceback through the
student's own lines. An error that is not one of the grader's messages (not an AssertionError)
keeps its innermost frame, so that a bug in the grader still says where it happened.

Both hooks are registered once per kernel, when the checks are first imported inside IPython;
in plain Python (pytest, the instructor's command line) nothing is registered and noting a
comparison costs a list append. This module runs in the student's kernel: it imports only the
standard library (IPython only if the kernel already loaded it).
"""
import os
import sys
import types

from .cause import ipython_shell

PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
CHAPTERS = "autograde.chapters"
LONGEST = 64  # characters of names on the line before it says "all N" instead

_noted = []  # (name, is_gradient, passed) for the cell running now


def passed(name, is_gradient=True):
    """A chapter's comparison of `name` passed (called by check_gradient and check_value)."""
    if _for_a_chapter():
        _noted.append((name, is_gradient, True))


def failed(name, is_gradient=True):
    """A comparison of `name` failed: the cell shows no confirmation, even if the failure was caught
    (a compare_all row that costs partial credit)."""
    if _for_a_chapter():
        _noted.append((name, is_gradient, False))


def _for_a_chapter(limit=40):
    frame = sys._getframe(2)
    while frame is not None and limit:
        if frame.f_globals.get("__name__", "").startswith(CHAPTERS):
            return True
        frame, limit = frame.f_back, limit - 1
    return False


def confirmation(noted):
    """The line for a cell whose comparisons were `noted`, or None (nothing noted, or one failed)."""
    if not noted or not all(ok for _, _, ok in noted):
        return None
    names = list(dict.fromkeys(_short(name) for name, _, _ in noted))
    what = "autograd" if all(is_gradient for _, is_gradient, _ in noted) else "the reference"
    shown = ", ".join(names)
    if len(shown) <= LONGEST:
        return f"✓ {shown} {'matches' if len(names) == 1 else 'match'} {what}"
    kept = []
    for name in names:
        if len(", ".join(kept + [name])) > LONGEST:
            break
        kept.append(name)
    return f"✓ all {len(names)} match {what}: {', '.join(kept)}, …"


def _short(name):
    """'dx (through Square then Multiply)' -> 'dx': the variable, without the grader's aside."""
    return name.split(" (", 1)[0].strip() or name


# --- the hooks ------------------------------------------------------------------------------------

def install():
    """Register the confirmation and the short tracebacks in this IPython kernel (once)."""
    shell = ipython_shell()
    if shell is None or getattr(shell, "_backprop_lab_confirm", False):
        return
    shell._backprop_lab_confirm = True
    shell.events.register("pre_run_cell", _before_cell)
    shell.events.register("post_run_cell", _after_cell)
    if not shell.custom_exceptions:  # someone else's handler stays in charge
        shell.set_custom_exc((Exception,), _short_traceback)


def _before_cell(*_):
    _noted.clear()


def _after_cell(result):
    try:
        line = confirmation(_noted) if result.success else None
        if line:
            print(line)
    except Exception:  # noqa: BLE001 (a confirmation must never break a student's notebook)
        pass
    finally:
        _noted.clear()


def _short_traceback(shell, etype, value, tb, tb_offset=None):
    """Show the error as IPython would, without the grader's frames. (IPython calls a custom
    handler instead of showing the error, and ignores what it returns: the handler shows it.) An
    error with no frame of the grader, a syntax error among them, is IPython's to show, as usual."""
    try:
        stb = None if hasattr(value, "_render_traceback_") else _trimmed(shell, etype, value, tb, tb_offset)
    except Exception:  # noqa: BLE001 (never lose the student's error: show it untrimmed)
        stb = None
    if stb is None and issubclass(etype, SyntaxError):  # raised compiling the cell
        shell.showsyntaxerror()
    elif stb is None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
    if stb is None:
        return None
    shell._showtraceback(etype, value, stb)
    if shell.call_pdb:  # %pdb on
        shell.debugger(force=True)
    return stb


def _trimmed(shell, etype, value, tb, tb_offset=None):
    """IPython's structured traceback of the error without the frames of the grader (None if it
    has none)."""
    offset = shell.InteractiveTB.tb_offset if tb_offset is None else tb_offset
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    top, rest = entries[:offset], entries[offset:]
    kept = [entry for entry in rest if not _is_grader(entry.tb_frame)]
    raised_by_grader = bool(rest) and _is_grader(rest[-1].tb_frame)
    if raised_by_grader and isinstance(value, AssertionError) and len(kept) <= 1:
        return shell.InteractiveTB.get_exception_only(etype, value)  # the check's message is the feedback
    if raised_by_grader and not isinstance(value, AssertionError):
        kept.append(rest[-1])  # where a grader bug happened
    if len(kept) == len(rest):
        return None
    trimmed = None
    for entry in reversed(top + kept):
        trimmed = types.TracebackType(trimmed, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return shell.InteractiveTB.structured_traceback(etype, value, trimmed, tb_offset=offset)


def _is_grader(frame):
    return bool(frame.f_locals.get("__tracebackhide__")) or frame.f_code.co_filename.startswith(PACKAGE)
