"""bench/fanout.py's bookkeeping that decides what a table row means: which round is cold,
which are warm, and which database a --database-url run uses."""

from __future__ import annotations

from bench.fanout import Round, Side, with_database


def test_the_first_round_is_cold_the_warm_up_is_dropped_and_the_rest_are_warm() -> None:
    side = Side("pdv-alert")
    rounds = [Round(t0=float(i), wire=[i + 0.1], app=[i + 0.2], missing=0) for i in range(5)]
    for index, measured in enumerate(rounds):
        side.keep(index, 1, measured)
    assert side.cold == [rounds[0]]
    assert side.rounds == rounds[2:]


def test_without_a_warm_up_every_round_after_the_cold_one_is_warm() -> None:
    side = Side("floor")
    rounds = [Round(t0=float(i), wire=[], app=[], missing=0) for i in range(3)]
    for index, measured in enumerate(rounds):
        side.keep(index, 0, measured)
    assert side.cold == [rounds[0]]
    assert side.rounds == rounds[1:]


def test_the_run_database_is_named_on_the_same_server() -> None:
    assert (
        with_database("postgresql+asyncpg://postgres@127.0.0.1:5432/test", "pdv_bench_1")
        == "postgresql+asyncpg://postgres@127.0.0.1:5432/pdv_bench_1"
    )
    assert (
        with_database("postgresql+asyncpg://u@h/test?ssl=require", "pdv_bench_1")
        == "postgresql+asyncpg://u@h/pdv_bench_1?ssl=require"
    )
