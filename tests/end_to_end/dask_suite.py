"""Grading on a real Dask cluster: a scheduler and two `dask worker` processes started here, each
in its own empty folder as if on another machine. The class gets exactly the scores of local
workers, and a worker killed mid-run loses nothing: its runs move to the other worker, and no
submission is recorded twice.

DaskSuite is mixed into a test class that provides `baseline`: a course with the same class graded
by local workers (test_grading_at_scale.py).
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autograde.grading.gradebook.database import cell_scores
from autograde.grading.gradebook.records import records_root
from autograde.grading.scheduling.runner import Settings, grade_class
from autograde.grading.demo.samples import variants
from grading_suite import submit_variants

DASK = str(Path(sys.executable).parent / "dask")


def start(command, folder, log):
    return subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


class DaskSuite:
    assignment = None

    @pytest.fixture(scope="class")
    @classmethod
    def cluster(cls, tmp_path_factory):
        folder = tmp_path_factory.mktemp("dask")
        address_file = folder / "scheduler.json"
        log = open(folder / "cluster.log", "w")
        processes = [start([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                            "--scheduler-file", str(address_file)], folder, log)]
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        for name in ("worker_a", "worker_b"):
            empty = folder / name  # its own working folder: nothing of the course there
            empty.mkdir()
            processes.append(start([DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                    "--name", name, "--local-directory", str(empty)], empty, log))
        from distributed import Client
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        try:
            yield address, processes
        finally:
            for process in reversed(processes):
                stop(process)
            log.close()

    @pytest.fixture(scope="class")
    @classmethod
    def dask_course(cls, tmp_path_factory, released):
        return submit_variants(released(tmp_path_factory.mktemp("dask_course"), cls.assignment), cls.assignment)

    def test_a_dask_cluster_grades_like_local_workers_and_survives_a_lost_worker(self, cluster, dask_course, baseline):
        address, processes = cluster
        settings = Settings(scheduler=address, cell_timeout=60, notebook_timeout=300, progress=False)
        records = records_root(dask_course) / self.assignment
        killed = []

        def kill_a_worker_mid_run():
            while not (records.is_dir() and any(records.iterdir())):  # once the first grade is in
                time.sleep(0.2)
            stop(processes[1])
            killed.append(time.monotonic())

        killer = threading.Thread(target=kill_a_worker_mid_run, daemon=True)
        killer.start()
        results = grade_class(dask_course, settings=settings)
        killer.join(timeout=5)
        assert killed, "the worker was not killed during the run"
        students = [r.student for r in results]
        assert sorted(students) == sorted(v.name for v in variants(self.assignment))  # each once
        assert all(r.graded for r in results), [(r.student, r.reason) for r in results if not r.graded]
        assert cell_scores(dask_course, self.assignment) == cell_scores(baseline, self.assignment)
