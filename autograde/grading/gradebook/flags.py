"""What the grader noticed about a submission, beyond its score.

A flag is one letter (for the summary table, where a class has hundreds of rows), the cell it
concerns and a sentence for the instructor and the student. Flags travel inside the graded
notebook's metadata, so plain `nbgrader autograde` and the pipeline record them the same way.
"""
LEGEND = {
    "X": "not graded: the file could not be read or graded (scored 0; reason below)",
    "G": "not graded through the grader's own failure, twice (no score recorded; the instructor must grade it again)",
    "S": "submission over the size limits: files beyond them were left out",
    "T": "graded or locked cells deleted, duplicated, retyped or edited (restored from the release)",
    "A": "hand-written code calls autograd (found by reading the code, not by running it)",
    "P": "code patches the checking library, numpy or torch, hooks into IPython, runs code it builds (exec), "
         "or rebinds a name the setup cell made",
    "C": "an answer uses the checks' own code: a reference, a stand-in or a helper (found by reading the code)",
    "W": "code reaches for grading files (gradebook, other submissions), or course files changed",
    "L": "time limit: a cell timed out, or the notebook ran out of its time budget",
    "M": "memory limit reached",
    "K": "the kernel died (os._exit, segfault, killed)",
    "O": "output truncated (too large)",
    "U": "graded without a sandbox (--unsandboxed): the code ran with the grader's access to the course",
}
ORDER = "GXUTAPCWLMKOS"
METADATA_KEY = "autograde"


def add_flag(nb, code, message, cell=None):
    """Record flag `code` on notebook `nb` (once per code, cell and message), in constant time: the
    keys already recorded are kept beside the list, as an attribute of the notebook object that is
    never written out (a notebook of many cells may flag each)."""
    assert code in LEGEND, code
    flags = nb.metadata.setdefault(METADATA_KEY, {}).setdefault("flags", [])
    index = vars(nb).get("_flag_keys")
    if index is None or index[0] is not flags:
        index = (flags, {(f.get("code"), f.get("cell"), f.get("message")) for f in flags})
        vars(nb)["_flag_keys"] = index  # the instance's own dict: not an item, so not in the file
    key = (code, cell, message)
    if key not in index[1]:
        index[1].add(key)
        flags.append({"code": code, "cell": cell, "message": message})


def notebook_flags(nb):
    """The flags recorded on a notebook: a list of {"code", "cell", "message"}."""
    return list(nb.get("metadata", {}).get(METADATA_KEY, {}).get("flags", []))


def letters(flags):
    """'TA' for flags with codes T and A, in legend order."""
    codes = {flag["code"] for flag in flags}
    return "".join(code for code in ORDER if code in codes)


def cell_name(cell, index):
    """How a flag names a cell: its grade id, or its position."""
    return cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
