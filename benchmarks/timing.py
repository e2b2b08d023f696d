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
