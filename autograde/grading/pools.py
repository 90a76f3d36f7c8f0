"""Where the grading workers run: a pool of local processes (the default) or a Dask cluster.

Both hand out concurrent.futures futures of `worker.grade(job)`; a job carries everything a worker
needs, so Dask workers share no filesystem with the instructor. They differ in what a dying
worker does to the runs it had:
  - the local pool breaks: every run it had in flight fails with BrokenProcessPool, the pool is
    replaced, and those runs are graded again one at a time to find the one that killed it;
  - a Dask cluster moves them to other workers by itself, and gives up on a run only after it
    has killed several workers (KilledWorker): that run is then reported as not graded.
"""
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from . import worker


_kept = {}  # workers -> the executor of this process's last local run


class LocalPool:
    """Processes forked from multiprocessing's fork server, a fresh interpreter that has imported the
    worker once (nothing of the instructor's process leaks into them, as with spawned processes, but
    each worker starts in milliseconds instead of importing nbgrader again).

    A pool whose runs all ended is kept for this process's next run, with its workers' warm fork
    servers: `python -m autograde grade` grades once, but a process that grades again (a notebook
    driving the grader, the tests) starts none of them again. concurrent.futures shuts the kept pool
    down when the process exits."""

    retries_elsewhere = False

    def __init__(self, workers):
        self.workers = workers
        self.executor = _kept.pop(workers, None) or self._start()
        self.futures = []

    def _start(self):
        context = get_context("forkserver")
        context.set_forkserver_preload([worker.__name__])
        return ProcessPoolExecutor(self.workers, mp_context=context)

    def capacity(self):
        return self.workers

    def submit(self, function, *args):
        future = self.executor.submit(function, *args)
        self.futures.append(future)
        return future

    def lost_worker(self, error):
        return isinstance(error, BrokenProcessPool)

    def replace(self):
        """After a worker died: the old pool is unusable, with every run it had."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self._start()
        self.futures = []

    def close(self):
        if all(future.done() and not future.cancelled() and not isinstance(future.exception(), BrokenProcessPool)
               for future in self.futures):
            _kept[self.workers] = self.executor
        else:  # a worker died, or a run was left behind (the grader was interrupted): not for the next run
            self.executor.shutdown(wait=False, cancel_futures=True)


class DaskPool:
    """The workers of a running Dask scheduler (`dask scheduler`, `dask worker tcp://...`)."""

    retries_elsewhere = True

    def __init__(self, address, timeout=30):
        from distributed import Client

        self.client = Client(address, timeout=timeout)
        self.executor = self.client.get_executor(pure=False)  # grading the same job twice means twice

    def capacity(self):
        """Runs to keep in flight: one per worker thread, plus one each so none waits for the next job."""
        workers = self.client.scheduler_info().get("workers", {}).values()
        threads = sum(worker.get("nthreads", 1) for worker in workers)
        return max(1, threads + len(workers))

    def submit(self, function, *args):
        return self.executor.submit(function, *args)

    def lost_worker(self, error):
        from distributed import KilledWorker

        return isinstance(error, KilledWorker)

    def replace(self):
        pass  # the cluster replaces nothing: the scheduler already moved the runs

    def close(self):
        self.executor.shutdown(wait=False)
        self.client.close()


def open_pool(workers, scheduler=""):
    return DaskPool(scheduler) if scheduler else LocalPool(workers)
