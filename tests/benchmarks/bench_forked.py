"""Benchmark: plain serial `nbgrader autograde`, the pipeline with fresh kernels and the pipeline with
forked kernels (a warm fork server per worker), in one run on the same class: notebooks per
minute, the ratios, and each way's overhead per notebook over the notebook's own cell time.

    python tests/benchmarks/bench_forked.py -a 01_chain_rule          # chapter 1's sample class
    python tests/benchmarks/bench_forked.py                           # every assignment's samples
    python tests/benchmarks/bench_forked.py --bad-inputs --cell-timeout 2 --notebook-timeout 5  # the demo class

The cell time is what the kernel spent in the notebook's cells (nbclient's execute_input to
execute_reply, summed), measured once by executing every submission serially with nbclient in a
forked kernel (the imports already paid, as the target is: the notebook's own work).
Each pipeline configuration runs as the instructor runs it, `python -m autograde grade`, in a
process of its own (a cold start: its workers and fork servers start within the time measured).
The overhead per notebook is a submission's own time in its worker (the pipeline's record), or
plain nbgrader's time per notebook, minus its cell time. Not collected by pytest (a timing, not a
test). Other load on the machine slows everything: the load average is printed before and after.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from bench_grading import build, plain_nbgrader, timed  # noqa: E402

from autograde.grading.gradebook.database import cell_scores
from autograde.grading.course.layout import available_assignments, notebook_path
from autograde.grading.kernels import forked_kernels
from autograde.grading.kernels.manager import SandboxKernelManager
from autograde.grading.gradebook.records import read_record
from autograde.grading.scheduling.runner import Settings
from autograde.grading.kernels.kernel_plan import make_plan


def cell_seconds(course, students, cell_timeout=60):
    """{(assignment, student): seconds its cells ran}, executing each submission once (serially) in
    a forked kernel: the imports are paid once, as in the forked pipeline, so what is left is the
    notebook's own work. Where kernels cannot be forked, in fresh kernels (imports included)."""
    plan = make_plan()
    config = Config()
    config.SandboxKernelManager.kernels = "forked"
    config.SandboxKernelManager.bwrap, config.SandboxKernelManager.user = plan.bwrap, plan.user
    config.SandboxKernelManager.landlock = bool(plan.landlock)
    times = {}
    for assignment, student in students:
        path = notebook_path(course, "submitted", assignment, student)
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 (broken files: nothing runs)
            times[(assignment, student)] = 0.0
            continue
        with forked_kernels.slot("forked" if forked_kernels.usable(plan) else "fresh") as work:
            folder = Path(work or path.parent) / "notebook"
            if work:
                shutil.copytree(path.parent, folder)
                os.chmod(work, 0o711)
            try:
                NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True, config=config,
                               kernel_manager_class=SandboxKernelManager,
                               resources={"metadata": {"path": str(folder if work else path.parent)}}).execute()
            except Exception:  # noqa: BLE001 (a dead kernel or a timeout: the cells it ran still count)
                pass
        total = 0.0
        for cell in nb.cells:
            timing = cell.get("metadata", {}).get("execution", {})
            start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
            if start and end:
                total += (datetime.fromisoformat(end.replace("Z", "+00:00"))
                          - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
        times[(assignment, student)] = total
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-a", "--assignment", action="append", help="default: every available assignment")
    parser.add_argument("--workers", type=int, default=0, help="pipeline workers (default: one per core)")
    parser.add_argument("--bad-inputs", action="store_true", help="add the bad inputs to the class")
    parser.add_argument("--no-plain", action="store_true", help="skip plain nbgrader (no ratios against it)")
    parser.add_argument("--cell-timeout", type=int, help="for every way alike (default: the course config's)")
    parser.add_argument("--notebook-timeout", type=int, help="for every way alike (default: the course config's)")
    args = parser.parse_args()
    assignments = args.assignment or available_assignments()
    print(f"assignments: {', '.join(assignments)}; {os.cpu_count()} cores; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    times, per_notebook, same = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        course, students = build(Path(tmp) / "cells", assignments, args.bad_inputs)
        n = len(students)
        print(f"{n} notebooks; measuring their cell time ...", flush=True)
        cells = cell_seconds(course, students, args.cell_timeout or 60)  # a timeout ends a notebook here
        forked_kernels.stop_server()  # this process's own, for the measurement only
        cell_mean = statistics.mean(cells.values())
        serial_scores = None
        if not args.no_plain:
            course, _ = build(Path(tmp) / "plain", assignments, args.bad_inputs)
            limits = [f"--Execute.timeout={args.cell_timeout}"] * bool(args.cell_timeout) + \
                [f"--SandboxedExecute.notebook_timeout={args.notebook_timeout}"] * bool(args.notebook_timeout)
            times["plain nbgrader autograde (serial)"], _ = timed(lambda: plain_nbgrader(course, assignments, limits))
            per_notebook["plain nbgrader autograde (serial)"] = times["plain nbgrader autograde (serial)"] / n
            serial_scores = {a: cell_scores(course, a) for a in assignments}
            print(f"  plain nbgrader: {times['plain nbgrader autograde (serial)']:.0f} s", flush=True)
        for kernels in ("fresh", "forked"):
            settings = Settings(workers=args.workers, progress=False, kernels=kernels)
            label = f"pipeline, {kernels} kernels, {settings.worker_count()} workers"
            course, _ = build(Path(tmp) / kernels, assignments, args.bad_inputs)
            # the instructor's command itself, from a cold start: a process of its own
            command = [sys.executable, "-m", "autograde", "grade", "--course", str(course), "--kernels", kernels,
                       "-j", str(settings.worker_count()), "--no-progress", *(f"-a{a}" for a in assignments),
                       *(["--cell-timeout", str(args.cell_timeout)] if args.cell_timeout else []),
                       *(["--notebook-timeout", str(args.notebook_timeout)] if args.notebook_timeout else [])]
            times[label], _ = timed(lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL))
            records = [read_record(course, a, s) for a, s in students]
            per_notebook[label] = statistics.mean(r.seconds for r in records)
            if serial_scores is not None:
                same[label] = all(cell_scores(course, a) == serial_scores[a] for a in assignments)
            print(f"  {label}: {times[label]:.0f} s", flush=True)

    print()
    print(f"{'':44} {'seconds':>8} {'notebooks/min':>14} {'s/notebook':>11} {'overhead/notebook':>18}")
    for name, seconds in times.items():
        print(f"{name:44} {seconds:8.1f} {60 * n / seconds:14.1f} {per_notebook[name]:11.2f} "
              f"{per_notebook[name] - cell_mean:+18.2f}")
    print(f"\nthe notebooks' own cell time: {cell_mean:.2f} s per notebook (serial nbclient)")
    fresh, forked = (next(k for k in times if f"{kind} kernels" in k) for kind in ("fresh", "forked"))
    print(f"forked / fresh kernels: {times[fresh] / times[forked]:.2f}x")
    if not args.no_plain:
        base = times["plain nbgrader autograde (serial)"]
        print(f"fresh kernels / plain nbgrader: {base / times[fresh]:.2f}x")
        print(f"forked kernels / plain nbgrader: {base / times[forked]:.2f}x")
        print(f"scores identical to serial nbgrader: {same}")
    print("(overhead: a pipeline submission's own seconds in its worker, or plain nbgrader's seconds per "
          "notebook, minus the notebook's cell time)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
