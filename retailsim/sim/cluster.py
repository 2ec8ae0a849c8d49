"""Many runs on Dask distributed: the engine under ``retailsim sweep`` and ``retailsim fuzz --workers``.

What it is for: :func:`dask_client` opens a client on a ``LocalCluster`` of worker processes on this
machine, or on any existing Dask cluster (``--scheduler tcp://HOST:PORT``); :func:`run_each` maps one
function over a list of tasks there and reports each result as it arrives.

Rules it keeps:
- no home-made process pool: scheduling, retries of a task whose worker died, and cancellation are
  Dask's (a task whose workers keep dying comes back through ``on_lost``, as a result, not an exception);
- results are keyed by the task's index in the list, never by the order they finished in;
- the cluster and client are always closed (context managers), also on Ctrl-C and on errors;
- Ctrl-C cancels every task not yet finished and keeps what has: ``interrupted`` says it happened;
- one thread per worker process: a simulation is pure Python, so threads would only share one GIL.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from distributed import Client, LocalCluster, as_completed

__all__ = ["Client", "Finished", "dask_client", "run_each"]

Task = TypeVar("Task")
Result = TypeVar("Result")

#: Seconds to wait for an existing scheduler to answer before giving up on it.
CONNECT_TIMEOUT_S = 20


class ClusterError(RuntimeError):
    """The cluster could not be started or reached; the message says which and why."""


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Client]:
    """A client on the scheduler at ``scheduler``, else on a new LocalCluster of ``workers`` processes
    (default: one per core) listening on loopback only, without a dashboard."""
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise ClusterError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
        with client:
            yield client
        return
    with _started_deaf_to_ctrl_c():
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # the scheduler's HTTP endpoints (health, metrics) on loopback, on a free port, no dashboard
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )
    with cluster, Client(cluster, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        yield client


@contextmanager
def _started_deaf_to_ctrl_c() -> Iterator[None]:
    """Processes started inside ignore SIGINT (an ignored signal stays ignored across exec, and Python
    then installs no KeyboardInterrupt handler): Ctrl-C in a terminal reaches the whole process group,
    and it is the client, not each worker, that decides what it means — cancel, keep what finished."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class Finished(Generic[Result]):
    """What came back, by task index; ``interrupted`` when Ctrl-C cancelled the rest."""

    results: dict[int, Result] = field(default_factory=dict)
    interrupted: bool = False


def run_each(
    client: Client,
    function: Callable[[Task], Result],
    tasks: Sequence[Task],
    on_result: Callable[[int, Result], None] | None = None,
    on_lost: Callable[[int, BaseException], Result] | None = None,
) -> Finished[Result]:
    """``function(task)`` for every task on the cluster; ``on_result(index, result)`` as each arrives.

    A task that raised on its worker, or whose workers died more often than Dask allows, gives
    ``on_lost(index, exception)`` as its result (without ``on_lost`` the exception propagates)."""
    finished: Finished[Result] = Finished()
    futures = client.map(function, list(tasks), pure=False)
    index_of = {future.key: index for index, future in enumerate(futures)}
    try:
        for future in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
            index = index_of[future.key]
            try:
                result = future.result()
            except Exception as exc:
                if on_lost is None:
                    raise
                result = on_lost(index, exc)
            finished.results[index] = result
            if on_result is not None:
                on_result(index, result)
    except KeyboardInterrupt:
        finished.interrupted = True
        client.cancel(futures)  # type: ignore[no-untyped-call]
    return finished
