"""Benchmark: grade the sample class with plain serial `nbgrader autograde` and with the pipeline,
in one run, and print both times, notebooks per minute and the ratio; plus the per-notebook
overhead of the pipeline against simply executing the notebook (nbclient, no grading).

    python tests/benchmarks/bench_grading.py                 # every available assignment
    python tests/benchmarks/bench_grading.py -a 01_chain_rule --workers 2 --bad-inputs

Not collected by pytest (a timing, not a test). Each measurement gets its own fresh copy of
the class. Other load on the machine slows everything: the load average is printed.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograde.grading.course.layout import available_assignments, make_course, notebook_path, submit
from autograde.grading.gradebook.database import cell_scores
from autograde.grading.course.release import generate_release
from autograde.grading.scheduling.runner import Settings, grade_class
from autograde.grading.demo.samples import variants
from autograde.grading.demo.samples.bad_inputs import BAD_INPUTS


def build(workdir, assignments, bad_inputs):
    course = make_course(workdir, assignments)
    students = []
    for assignment in assignments:
        generate_release(course, assignment)
        samples = [(v.name, v.build(assignment)) for v in variants(assignment)]
        if bad_inputs:
            samples += [(b.name, b.build(assignment)) for b in BAD_INPUTS]
        for student, nb in samples:
            submit(course, assignment, student, nb)
            students.append((assignment, student))
    return course, students


def timed(function):
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def plain_nbgrader(course, assignments, options=()):
    for assignment in assignments:  # non-zero exit when a file cannot be graded: not our concern here
        subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, *options], cwd=course,
                       capture_output=True, timeout=7200)


def plain_execution(course, students):
    """Only run each submitted notebook top to bottom, as `jupyter nbconvert --execute` would."""
    for assignment, student in students:
        path = notebook_path(course, "submitted", assignment, student)
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 (broken files: nothing to execute)
            continue
        NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-a", "--assignment", action="append", help="default: every available assignment")
    parser.add_argument("--workers", type=int, default=0, help="pipeline workers (default: one per core)")
    parser.add_argument("--bad-inputs", action="store_true", help="add the bad inputs to the class")
    parser.add_argument("--quick", action="store_true", help="skip the pipeline pass with one worker")
    args = parser.parse_args()
    assignments = args.assignment or available_assignments()
    settings = Settings(workers=args.workers, progress=False)
    print(f"assignments: {', '.join(assignments)}; {os.cpu_count()} cores; "
          f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        course, students = build(Path(tmp) / "plain", assignments, args.bad_inputs)
        n = len(students)
        print(f"{n} notebooks", flush=True)
        times["plain nbgrader autograde (serial)"], _ = timed(lambda: plain_nbgrader(course, assignments))
        serial_scores = {a: cell_scores(course, a) for a in assignments}
        print(f"  plain nbgrader done: {times['plain nbgrader autograde (serial)']:.0f} s", flush=True)

        course, _ = build(Path(tmp) / "pipeline", assignments, args.bad_inputs)
        label = f"pipeline, {settings.worker_count()} workers"
        times[label], _ = timed(lambda: grade_class(course, assignments, None, settings))
        same = all(cell_scores(course, a) == serial_scores[a] for a in assignments)
        print(f"  pipeline done: {times[label]:.0f} s", flush=True)

        if not args.quick:
            course, _ = build(Path(tmp) / "pipeline1", assignments, args.bad_inputs)
            times["pipeline, 1 worker"], _ = timed(
                lambda: grade_class(course, assignments, None, Settings(workers=1, progress=False)))
        course, _ = build(Path(tmp) / "execute", assignments, args.bad_inputs)
        times["plain execution only (nbclient, serial)"], _ = timed(lambda: plain_execution(course, students))

    print()
    print(f"{'':44} {'seconds':>8} {'s/notebook':>11} {'notebooks/min':>14}")
    for name, seconds in times.items():
        print(f"{name:44} {seconds:8.1f} {seconds / n:11.2f} {60 * n / seconds:14.1f}")
    base = times["plain nbgrader autograde (serial)"]
    print(f"\nratio plain nbgrader / pipeline ({settings.worker_count()} workers): {base / times[label]:.2f}x")
    execute = times["plain execution only (nbclient, serial)"] / n
    if "pipeline, 1 worker" in times:
        print(f"per-notebook overhead of the pipeline (1 worker) over plain execution: "
              f"{times['pipeline, 1 worker'] / n - execute:+.2f} s")
    print(f"per-notebook overhead of plain nbgrader over plain execution: {base / n - execute:+.2f} s")
    print(f"pipeline scores identical to serial nbgrader: {same}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
