"""``Batches`` (core/api): requests that arrive while a batch runs go together in the next one."""

from __future__ import annotations

import asyncio
import threading

import pytest

from retailsim.core.api.app import Batches


def test_what_arrives_while_a_batch_runs_goes_in_the_next_one() -> None:
    seen: list[list[int]] = []
    release = threading.Event()

    def run(items: list[int]) -> list[int | Exception]:
        if not seen:
            assert release.wait(timeout=10)  # the first batch runs until the others have queued
        seen.append(items)
        return [ValueError(f"no {i}") if i == 3 else i * 10 for i in items]

    async def main() -> list[int | BaseException]:
        batches: Batches[int, int] = Batches(run, limit=2, key=lambda i: i)
        first = asyncio.ensure_future(batches(0))
        await asyncio.sleep(0.05)  # the first batch is running: these wait
        rest = [asyncio.ensure_future(batches(i)) for i in (1, 2, 3, 4)]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(main())
    assert seen == [[0], [1, 2], [3, 4]]  # at most ``limit`` together, in arrival order
    assert results[:3] == [0, 10, 20] and results[4] == 40
    assert isinstance(results[3], ValueError)  # only the item that failed sees the exception


def test_a_batch_that_raises_fails_every_item_in_it_and_the_next_one_still_runs() -> None:
    def run(items: list[str]) -> list[str | Exception]:
        if "boom" in items:
            raise RuntimeError("the host is away")
        return [item.upper() for item in items]

    async def main() -> tuple[list[BaseException | str], str]:
        batches: Batches[str, str] = Batches(run, limit=8, key=lambda i: i)
        failed = await asyncio.gather(batches("boom"), return_exceptions=True)
        return failed, await batches("ok")

    failed, later = asyncio.run(main())
    assert isinstance(failed[0], RuntimeError) and later == "OK"
    with pytest.raises(RuntimeError):
        asyncio.run(Batches(run, limit=1, key=lambda i: i)("boom"))


def test_an_item_whose_key_is_running_does_not_wait_for_that_batch() -> None:
    release = threading.Event()
    seen: list[list[tuple[str, int]]] = []

    def run(items: list[tuple[str, int]]) -> list[str | Exception]:
        seen.append(items)
        if items[0] == ("k1", 1):
            assert release.wait(timeout=10)  # the first attempt is still being committed
        return [f"{key}#{n}" for key, n in items]

    async def main() -> tuple[str, bool, str]:
        batches: Batches[tuple[str, int], str] = Batches(run, limit=8, key=lambda item: item[0])
        first = asyncio.ensure_future(batches(("k1", 1)))
        await asyncio.sleep(0.05)
        retry = await asyncio.wait_for(batches(("k1", 2)), timeout=10)  # answered while the first runs
        still_running = not first.done()
        release.set()
        return retry, still_running, await first

    retry, still_running, first = asyncio.run(main())
    assert retry == "k1#2" and still_running and first == "k1#1"
    assert seen == [[("k1", 1)], [("k1", 2)]]  # the retry ran alone, beside the batch it did not wait for


def test_an_item_whose_key_waits_for_the_next_batch_does_not_join_it() -> None:
    """Two attempts under one key in one batch would both be answered only after that batch commits; the
    retry must be answered (409 by the core) while the first attempt is still in flight."""
    release = threading.Event()
    seen: list[list[tuple[str, int]]] = []

    def run(items: list[tuple[str, int]]) -> list[str | Exception]:
        seen.append(items)
        if items[0] == ("k0", 1):
            assert release.wait(timeout=10)  # an unrelated batch is being committed
        return [f"{key}#{n}" for key, n in items]

    async def main() -> tuple[str, bool, str, str]:
        batches: Batches[tuple[str, int], str] = Batches(run, limit=8, key=lambda item: item[0])
        running = asyncio.ensure_future(batches(("k0", 1)))
        await asyncio.sleep(0.05)
        first = asyncio.ensure_future(batches(("k1", 1)))  # waits for the next batch
        await asyncio.sleep(0.05)
        retry = await asyncio.wait_for(batches(("k1", 2)), timeout=10)  # answered before that batch runs
        first_waiting = not first.done()
        release.set()
        return retry, first_waiting, await first, await running

    retry, first_waiting, first, running = asyncio.run(main())
    assert retry == "k1#2" and first_waiting and first == "k1#1" and running == "k0#1"
    assert seen == [[("k0", 1)], [("k1", 2)], [("k1", 1)]]
