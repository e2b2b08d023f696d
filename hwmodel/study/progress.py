"""Progress of a long stage on stderr: a tqdm bar (rate, ETA) on a terminal, and plain lines at
most every few seconds when stderr is a file or a pipe, so logs stay readable."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """``with Progress("synthesis", total) as bar: bar.step(note=...)``."""

    def __init__(self, label: str, total: int, *, stream=None, done: int = 0, interval_s: float = 5.0):
        self.label, self.total, self.done = label, total, done
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._start = self._last = time.monotonic()
        self._bar = None
        if self._tty:
            from tqdm import tqdm
            self._bar = tqdm(total=total, initial=done, desc=label, file=self.stream, unit="point",
                             dynamic_ncols=True, leave=True)
        else:
            self._line(f"{done}/{total}")

    def note(self, text: str) -> None:
        """A one-off message (e.g. why the first step is slow)."""
        if self._bar is not None:
            self._bar.write(f"{self.label}: {text}", file=self.stream)
        else:
            self._line(text)

    def step(self, count: int = 1, note: str = "") -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            return
        now = time.monotonic()
        if self.done >= self.total or now - self._last >= self.interval_s:
            elapsed = now - self._start
            rate = (self.done / elapsed) if elapsed > 0 else 0.0
            eta = (self.total - self.done) / rate if rate else float("nan")
            self._line(f"{self.done}/{self.total}, {elapsed:.0f} s elapsed"
                       + (f", ETA {eta:.0f} s" if eta == eta else "") + (f"  {note}" if note else ""))

    def _line(self, text: str) -> None:
        self._last = time.monotonic()
        print(f"{self.label}: {text}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
