"""Benchmark: grading throughput on Dask with 1, 2 and 4 workers against the local process pool,
in one run on one sample class: notebooks per minute, and the Dask path's overhead over the local
pool with the same number of workers (target: at most 10%).

    python tests/benchmarks/bench_dask.py                  # chapter 1's sample class
    python tests/benchmarks/bench_dask.py -a 02_softmax_nll --workers 1 2

Not collected by pytest (a timing, not a test). The Dask workers are real worker processes of a
distributed.LocalCluster on this machine (one thread each), as `dask worker` would start them.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

from autograde.grading.course.layout import available_assignments, make_course, submit
from autograde.grading.gradebook.database import cell_scores
from autograde.grading.course.release import generate_release
from autograde.grading.scheduling.runner import Settings, grade_class
from autograde.grading.demo.samples import variants


def build(folder, assignment):
    course = make_course(folder, [assignment])
    generate_release(course, assignment)
    for variant in variants(assignment):
        submit(course, assignment, variant.name, variant.build(assignment))
    return course, len(variants(assignment))


def timed_grading(folder, assignment, settings):
    course, count = build(folder, assignment)
    start = time.perf_counter()
    grade_class(course, [assignment], None, settings)
    return time.perf_counter() - start, count, cell_scores(course, assignment)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-a", "--assignment", default="01_chain_rule", choices=available_assignments())
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    from distributed import LocalCluster

    print(f"{args.assignment}; {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    rows, reference = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            local, count, scores = timed_grading(Path(tmp) / f"local{workers}", args.assignment,
                                                 Settings(workers=workers, progress=False))
            reference = reference or scores
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
                dask, _, dask_scores = timed_grading(Path(tmp) / f"dask{workers}", args.assignment,
                                                     Settings(scheduler=cluster.scheduler_address, progress=False))
            rows.append((workers, count, local, dask, dask_scores == reference and scores == reference))
            print(f"  {workers} worker(s) done", flush=True)
    print(f"\n{'workers':>7} {'local nb/min':>13} {'dask nb/min':>12} {'dask overhead':>14}  same scores")
    for workers, count, local, dask, same in rows:
        print(f"{workers:>7} {60 * count / local:13.1f} {60 * count / dask:12.1f} {100 * (dask / local - 1):+13.1f}%  {same}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
