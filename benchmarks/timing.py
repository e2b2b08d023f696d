"""Timing helper shared by the benchmark scripts."""

import time


def best_time(fn, repeat: int = 5) -> float:
    """Best of ``repeat`` runs after one warm-up (which builds caches), in seconds."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def timed_recipes(text: str, goal_s: float):
    """For each ``FORMAT@ACC[:bias]`` of the comma-separated ``text`` (per-channel weights):
    yields (numerics, run) where ``run(work)`` times ``work(numerics)`` and returns (its result,
    seconds, "ok"/"SLOW" against ``goal_s`` for a fixed-point register, "-" for a float one)."""
    from hwmodel.accuracy.qmatmul import parse_numerics

    for recipe in text.split(","):
        body, _, bias = recipe.partition(":")
        numerics = parse_numerics(body, weight_granularity="channel", bias=bias or "none")

        def run(work, numerics=numerics):
            t0 = time.perf_counter()
            result = work(numerics)
            seconds = time.perf_counter() - t0
            fixed = numerics.accumulator.startswith(("int", "fixed"))
            return result, seconds, ("ok" if seconds <= goal_s else "SLOW") if fixed else "-"

        yield numerics, run
