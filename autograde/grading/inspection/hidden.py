"""Keep hidden tests hidden in the feedback a student receives.

The graded notebook holds the hidden tests (nbgrader restores them before running), and an
error's traceback quotes the lines around the failing call, hidden ones included. Feedback
keeps each test's result and failure message, and drops:
  - the source between the hidden-test markers (replaced by one comment line);
  - every traceback frame that is not the student's own code (test cells, the checking library).
"""
import re

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests: not shown)"
FRAMES_NOTE = "... (frames of the tests and of the checking library are not shown)"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CELL_FRAME = re.compile(r"^\s*Cell\s+In\s*\[(\d+)\]")


def hide_hidden_tests(source, begin=BEGIN, end=END):
    """`source` without its hidden-test regions; an unclosed region hides everything after it."""
    kept, hiding = [], False
    for line in source.split("\n"):
        if begin in line:
            if not hiding:
                kept.append(line[:len(line) - len(line.lstrip())] + HIDDEN_NOTE)
            hiding = True
        elif end in line:
            hiding = False
        elif not hiding:
            kept.append(line)
    return "\n".join(kept)


def student_traceback(traceback, student_cells):
    """Keep the header, the frames in cells the student wrote (by execution count) and the final
    message; replace everything else by one note."""
    if len(traceback) < 2:
        return list(traceback)
    header, frames, message = [], [], traceback[-1]
    dropped = False
    for entry in traceback[:-1]:
        plain = ANSI.sub("", entry)
        cell = CELL_FRAME.match(plain)
        if cell:
            if int(cell.group(1)) in student_cells:
                frames.append(entry)
            else:
                dropped = True
        elif plain.lstrip().startswith("File ") or "\n" in plain.strip():
            dropped = True  # library frame
        elif not frames and not dropped:
            header.append(entry)
        else:
            dropped = True
    return header + frames + ([FRAMES_NOTE] if dropped else []) + [message]
