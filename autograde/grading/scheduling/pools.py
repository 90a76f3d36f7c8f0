"""Where the grading workers run: a pool of local processes (the default) or a Dask cluster.

Both hand out concurrent.futures futures of `worker.grade(job)`; a job carries everything a worker
needs, so Dask workers share no filesystem with the instructor. They differ in what a dying
worker does to the runs it had:
  - the local pool breaks: every run it had in flight fails with BrokenProcessPool, the pool is
    replaced, and those runs are graded again one at a time to find the one that killed it;
  - a Dask cluster moves them to other workers by itself, and gives up on a run only after it
    has killed several workers (KilledWorker): that run is then reported as not graded.
"""
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

WORKER_MODULE = "autograde.grading.scheduling.worker"  # what every local worker imports before it is forked


_kept = {}  # (workers, warm_up) -> the executor of this process's last local run with these
_starting = {}  # (workers, warm_up) -> the thread starting such a pool (start())


class LocalPool:
    """Processes forked from multiprocessing's fork server, a fresh interpreter that has imported the
    worker once (nothing of the instructor's process leaks into them, as with spawned processes, but
    each worker starts in milliseconds instead of importing nbgrader again). Every worker starts at
    once and runs `warm_up` ((function, args), e.g. starting its kernels' fork server) while the
    caller prepares the jobs.

    A pool whose runs all ended is kept for this process's next run, with its workers' warm fork
    servers: `python -m autograde grade` grades once, but a process that grades again (a notebook
    driving the grader, the tests) starts none of them again. concurrent.futures shuts the kept pool
    down when the process exits."""

    retries_elsewhere = False

    def __init__(self, workers, warm_up=None):
        self.workers, self.warm_up = workers, warm_up
        starting = _starting.pop((workers, warm_up), None)
        if starting:
            starting.join()
        self.executor = _kept.pop((workers, warm_up), None) or new_executor(workers, warm_up)
        self.futures = []

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
        self.executor = new_executor(self.workers, self.warm_up)
        self.futures = []

    def close(self):
        if all(future.done() and not future.cancelled() and not isinstance(future.exception(), BrokenProcessPool)
               for future in self.futures):
            _kept[(self.workers, self.warm_up)] = self.executor
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


def new_executor(workers, warm_up=None):
    """A process pool whose workers all start now, each running `warm_up` ((function, args)) first."""
    context = get_context("forkserver")
    context.set_forkserver_preload([WORKER_MODULE])
    function, args = warm_up or (None, ())
    executor = ProcessPoolExecutor(workers, mp_context=context, initializer=function, initargs=args)
    for _ in range(workers):  # each submission while none is idle starts one more worker
        executor.submit(int)
    return executor


def start(workers, warm_up=None):
    """Start a local pool in a background thread, for this process's next LocalPool(workers, warm_up):
    its workers import and warm up (starting one waits for multiprocessing's fork server to import
    the worker) while this process goes on importing and preparing."""
    def start_and_keep():
        _kept[(workers, warm_up)] = new_executor(workers, warm_up)

    thread = threading.Thread(target=start_and_keep, name="autograde-pool-start", daemon=True)
    _starting[(workers, warm_up)] = thread
    thread.start()


def open_pool(workers, scheduler="", warm_up=None):
    """Dask workers start their fork servers with their first job; local ones as they start."""
    return DaskPool(scheduler) if scheduler else LocalPool(workers, warm_up)
