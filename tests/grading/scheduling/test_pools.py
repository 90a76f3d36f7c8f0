"""Local worker pools (autograde/grading/scheduling/pools.py): kept warm between runs, replaced
when a worker died, warmed up in the background."""
import os

from autograde.grading.scheduling import pools
from autograde.grading.scheduling.pools import LocalPool


def test_a_pool_is_kept_for_the_next_run_unless_a_worker_died():
    first = LocalPool(1)
    pid = first.submit(os.getpid).result()
    first.close()
    second = LocalPool(1)
    assert second.submit(os.getpid).result() == pid  # the same warm worker
    second.submit(os._exit, 1).exception(timeout=60)  # a worker that dies
    second.close()
    third = LocalPool(1)
    assert third.executor is not second.executor and third.submit(os.getpid).result() != pid
    third.close()


def test_a_pool_started_in_the_background_warms_up_its_workers_for_the_run_that_opens_it(tmp_path):
    warm_up = (os.chdir, (str(tmp_path),))  # each worker's first act
    pools.start(2, warm_up)
    pool = pools.LocalPool(2, warm_up)  # waits for the start instead of starting a second pool
    assert not pools._starting and (2, warm_up) not in pools._kept
    futures = [pool.submit(os.getcwd) for _ in range(4)]
    assert [future.result() for future in futures] == [str(tmp_path)] * 4
    pool.executor.shutdown()
