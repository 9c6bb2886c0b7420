"""The throttled feed both the roll call and presence use: at once, then at most once per
interval, the last change always; per key; closed by its `async with`."""

from __future__ import annotations

import asyncio

import pytest

from server.realtime.feeds import ThrottledFeed


class Pushes:
    """A push that records its keys and can be held open until released."""

    def __init__(self, *, hold: bool = False, fail_first: bool = False) -> None:
        self.keys: list[str] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        if not hold:
            self.release.set()
        self.fail_first = fail_first

    async def __call__(self, key: str) -> None:
        self.keys.append(key)
        self.started.set()
        await self.release.wait()
        if self.fail_first and len(self.keys) == 1:
            raise RuntimeError("the database is away")


async def test_changes_during_a_push_make_exactly_one_more_push() -> None:
    """Three changes while a push runs: one trailing push carries them all, then it stops."""
    push = Pushes(hold=True)
    async with ThrottledFeed(push, min_interval=0, name="test") as feed:
        feed.mark_dirty("a")
        await push.started.wait()
        task = feed._tasks["a"]
        for _ in range(3):
            feed.mark_dirty("a")
        push.release.set()
        await task
        assert push.keys == ["a", "a"] and not feed._tasks


async def test_keys_are_pushed_independently_and_at_once() -> None:
    """A pending interval of one key does not hold back another key's first push."""
    push = Pushes()
    async with ThrottledFeed(push, min_interval=3600, name="test") as feed:
        feed.mark_dirty("a")
        feed.mark_dirty("b")
        feed.mark_dirty("a")  # within a's interval: waits for it
        for _ in range(100):
            if len(push.keys) == 2:
                break
            await asyncio.sleep(0)
        assert sorted(push.keys) == ["a", "b"]


async def test_a_failing_push_is_logged_and_the_next_change_is_pushed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception in a push does not end the feed: the next change is pushed again."""
    push = Pushes(fail_first=True)
    async with ThrottledFeed(push, min_interval=0, name="test") as feed:
        feed.mark_dirty("a")
        await feed._tasks["a"]
        feed.mark_dirty("a")
        await feed._tasks["a"]
    assert push.keys == ["a", "a"]
    assert "test push of a failed" in caplog.text


async def test_exit_cancels_the_interval_and_later_changes_start_nothing() -> None:
    """Leaving the `async with` cancels waiting tasks; a change after it is ignored."""
    push = Pushes()
    feed: ThrottledFeed[str] = ThrottledFeed(push, min_interval=3600, name="test")
    async with feed:
        feed.mark_dirty("a")
        await push.started.wait()
        feed.mark_dirty("a")
        task = feed._tasks["a"]
    assert task.done() and not feed._tasks
    feed.mark_dirty("a")
    assert not feed._tasks and push.keys == ["a"]


def test_a_negative_interval_is_refused() -> None:
    """min_interval must not be negative."""
    with pytest.raises(ValueError):
        ThrottledFeed(Pushes(), min_interval=-1, name="test")
