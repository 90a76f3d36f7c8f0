"""What a student waits for after clicking Validate: nbgrader's Validator on a chapter's notebook, as
the Assignment List's button runs it (a fresh kernel, every cell from the top), against the time
the notebook's cells themselves take in a kernel that is already running.

    python tests/benchmarks/bench_validate.py [-a 01_chain_rule] [--repeats 3]

Not a test (pytest does not collect it): the figures depend on the machine. The notebook is the
chapter's correct sample submission, so Validate says "Success"; the ratio is the cost of starting
a kernel and importing numpy, torch and the checks, over the cells' own work.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbgrader.validator import Validator
from traitlets.config import Config

from autograde.grading.demo.samples import correct_submission


def validate_seconds(path):
    start = time.perf_counter()
    result = Validator(config=Config()).validate(str(path))
    seconds = time.perf_counter() - start
    if result:  # an empty result is nbgrader's "Success! Your notebook passes all the tests."
        raise SystemExit(f"the correct submission did not validate: {sorted(result)}")
    return seconds


def cells_seconds(path):
    """The cells' own time: the notebook run again in a kernel started (and warmed) beforehand."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        client.execute_cell(nbformat.v4.new_code_cell("import numpy, torch"), 0)
        start = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-a", "--assignment", default="01_chain_rule")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as folder:
        path = Path(folder) / "notebook.ipynb"
        nbformat.write(correct_submission(args.assignment), path)
        validate = [validate_seconds(path) for _ in range(args.repeats)]
        cells = [cells_seconds(path) for _ in range(args.repeats)]
    v, c = statistics.median(validate), statistics.median(cells)
    print(f"{args.assignment}: Validate {v:.2f} s (median of {args.repeats}), the cells alone {c:.2f} s: "
          f"Validate takes {v / c:.1f}x the cells' own time, {v - c:.2f} s of start-up")


if __name__ == "__main__":
    main()
