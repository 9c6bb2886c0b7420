"""The known-browser marker: bound to its account and key, expiring, bounded."""

from __future__ import annotations

from server.core.known_browsers import MAX_MARKS, is_known, remember

SECRET = "k" * 32
DAY = 86400.0
NOW = 1_800_000_000.0


def _remember(cookie: str, account: str, now: float = NOW) -> str:
    return remember(cookie, secret=SECRET, account=account, now=now, max_age=DAY)


def _known(cookie: str, account: str, now: float = NOW, secret: str = SECRET) -> bool:
    return is_known(cookie, secret=secret, account=account, now=now, max_age=DAY)


def test_a_mark_proves_its_account_only() -> None:
    """A mark made for one account is known for it, not for another or under another key."""
    cookie = _remember("", "rektor@skola.se")
    assert _known(cookie, "rektor@skola.se")
    assert not _known(cookie, "larare@skola.se")
    assert not _known(cookie, "rektor@skola.se", secret="x" * 32)
    assert "rektor" not in cookie


def test_marks_expire() -> None:
    """A mark older than max_age, or from the future, is not known."""
    cookie = _remember("", "a", now=NOW)
    assert _known(cookie, "a", now=NOW + DAY - 1)
    assert not _known(cookie, "a", now=NOW + DAY + 1)
    assert not _known(cookie, "a", now=NOW - 3600)


def test_forged_and_garbage_cookies_are_not_known() -> None:
    """Tampered tags, a changed issue time and garbage are ignored."""
    cookie = _remember("", "a")
    issued, _, tag = cookie.partition(".")
    assert not _known(f"{issued}.{'A' * len(tag)}", "a")
    assert not _known(f"{int(issued) - 1}.{tag}", "a")
    for garbage in ("", "~", "abc", ".", "12.", "x.y~~"):
        assert not _known(garbage, "a")


def test_a_shared_computer_keeps_several_accounts() -> None:
    """Marks of other accounts are kept (newest first, at most MAX_MARKS); re-logging in
    replaces the account's own mark."""
    cookie = ""
    for index in range(MAX_MARKS + 2):
        cookie = _remember(cookie, f"p{index}", now=NOW + index)
    now = NOW + MAX_MARKS + 2
    assert len(cookie.split("~")) == MAX_MARKS
    assert _known(cookie, f"p{MAX_MARKS + 1}", now=now) and not _known(cookie, "p0", now=now)
    again = _remember(cookie, f"p{MAX_MARKS + 1}", now=now)
    assert len(again.split("~")) == MAX_MARKS
