"""``Batches``: orders that arrive while a batch of orders is being committed wait and go in the next one.

What it is for: on SQLite most of an order's cost is its commit; under load, orders that queue behind a
commit share the next one (``IntegrationCore.submit_orders``), each answered as it would be alone. Rules
kept: no timer (a lone order goes at once, so batching adds no latency); at most ``limit`` items a batch;
a retry whose first attempt is still queued or running never joins a batch — it runs alone at once, and
the core's claim on its key answers it 409 instead of holding it until the first attempt has committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")
R = TypeVar("R")


class Batches(Generic[T, R]):
    """Runs ``run`` in the thread pool on what has arrived: requests that come while a batch is running
    wait and go together in the next one, at most ``limit`` at a time. No timer: a request that finds
    nothing running goes at once, so batching adds no latency; under load it shares one commit. ``run``
    answers each item with its result or the exception to raise in that item's request.

    An item whose ``key`` is in the batch that is running, or waiting for the next one, does not join
    it: it runs at once, alone (a retry of a request still in flight must be told so — 409 — not held
    until the first attempt's batch has committed).
    """

    def __init__(
        self, run: Callable[[list[T]], list[R | Exception]], limit: int, key: Callable[[T], Hashable]
    ) -> None:
        self._run = run
        self._limit = limit
        self._key = key
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._waiting_keys: set[Hashable] = set()
        self._running: set[Hashable] = set()
        self._drainer: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        key = self._key(item)
        if key in self._running or key in self._waiting_keys:
            return self._unwrap((await run_in_threadpool(self._run, [item]))[0])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        self._waiting_keys.add(key)
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await future

    @staticmethod
    def _unwrap(result: R | Exception) -> R:
        if isinstance(result, Exception):
            raise result
        return result

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self._limit], self._waiting[self._limit :]
                self._running = {self._key(item) for item, _ in batch}
                self._waiting_keys -= self._running
                try:
                    results = await run_in_threadpool(self._run, [item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                finally:
                    self._running = set()
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # a client that went away cancelled its wait
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._drainer = None
