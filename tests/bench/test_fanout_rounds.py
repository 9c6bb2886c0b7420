"""bench/fanout.py's bookkeeping that decides what a table row means: which round is cold,
which are warm, how several starts' cold rounds are pooled, and which database a
--database-url run uses."""

from __future__ import annotations

from bench.fanout import Round, Side, cold_first, table, with_database


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


def test_starts_alternate_whose_cold_alert_goes_first() -> None:
    assert [cold_first(start, "pdv") for start in range(4)] == ["pdv", "floor", "pdv", "floor"]
    assert [cold_first(start, "floor") for start in range(3)] == ["floor", "pdv", "floor"]


def test_the_cold_ratio_of_several_starts_is_of_their_medians() -> None:
    """Three starts: the cold last clients 100/150/400 ms against the floor's 100/100/100
    give 1.50× (the medians), not the mean's 2.17×."""
    pdv, floor = Side("pdv-alert", clients=2), Side("floor", clients=2)
    for last, side in ((0.100, pdv), (0.150, pdv), (0.400, pdv)) + ((0.100, floor),) * 3:
        stamps = [0.010, last]  # two clients: the first and the last
        side.keep(0, 0, Round(t0=0.0, wire=stamps, app=stamps, missing=0, response=0.01))
        side.keep(1, 0, Round(t0=0.0, wire=[0.01, 0.1], app=[0.01, 0.1], missing=0))
    printed = table(pdv, floor, Side("pdv-alert resolve"), "c")
    assert "(3 starts; not in the rows above)" in printed
    cold = next(line for line in printed.splitlines() if "cold: incl. HTTP trigger" in line)
    assert "1.50×" in cold and "met" in cold and "NOT" not in cold
    assert "cold incl. trigger (clients), each start: 1.00×, 1.50×, 4.00×; ≤ 1.5× in 2 of 3" in (
        printed
    )
