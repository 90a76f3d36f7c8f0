"""Test-run settings.

One numpy/torch thread per process: two test workers share the machine's cores with the kernels
they start, and thread pools sized to every core would only spin against each other (set the
variables to override).

The slowest tests first: `pytest -n 2 --dist loadfile` hands out whole files in collection order,
so the long end-to-end files start at once and the short ones fill in around them.
"""
import os

from autograde.grading.sandbox import THREAD_VARIABLES

for variable in THREAD_VARIABLES:
    os.environ.setdefault(variable, "1")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: not item.get_closest_marker("nbgrader"))  # stable: each file stays in order
