"""Test-run settings.

One numpy/torch thread per process: two test workers share the machine's cores with the kernels
they start, and thread pools sized to every core would only spin against each other (set the
variables to override).

The longest files first: `pytest -n 2 --dist loadfile` hands out whole files, in collection order
(pyproject.toml turns off xdist's own reordering by test count, which put the browser's few but
long tests last), so the two workers start on the long end-to-end files and the short ones fill in
around them at the end.
"""
import os

from autograde.grading.kernels.sandbox import THREAD_VARIABLES

for variable in THREAD_VARIABLES:
    os.environ.setdefault(variable, "1")


# seconds of a whole run on the 2-core machine, longest first (the rest take under 20 s each)
LONGEST_FIRST = [
    "tests/end_to_end/test_grading_01_chain_rule.py",       # about 135: serial nbgrader, hostile and fresh classes
    "tests/end_to_end/test_term_in_browser.py",             # 70
    "tests/end_to_end/test_grading_07_attention.py",        # 60 to 140: numerical gradients timed
    "tests/end_to_end/test_grading_06_normalization.py",    # 55
    "tests/end_to_end/test_grading_at_scale.py",            # 33
    "tests/end_to_end/test_grading_05_autograd_engine.py",  # 35
    "tests/end_to_end/test_grading_04_label_smoothing.py",  # 30
    "tests/end_to_end/test_trusted_checker.py",             # 35
]


def pytest_collection_modifyitems(items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        first = LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)
        return first, not item.get_closest_marker("nbgrader")

    items.sort(key=rank)  # stable: each file's tests stay in their order
