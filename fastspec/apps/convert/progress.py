"""Progress of a conversion: a bar on a terminal, log lines otherwise."""

import sys
import time


class Progress:
    """A tqdm bar on a terminal, plain log lines (every ``interval`` s) otherwise.

    The bar is created on the first finished file: tqdm starts a monitor thread, and local
    workers are forked from a single-threaded parent before that. The work is counted in input
    bytes (the run reads no header before converting); the hours of audio in all are estimated
    from the seconds per byte of the files done.
    """

    def __init__(self, n_files, total_bytes, enabled, stream=None, interval=10.0):
        self.stream = sys.stderr if stream is None else stream
        self.n_files, self.total_bytes = n_files, total_bytes
        self.done_files, self.done_seconds, self.done_bytes = 0, 0.0, 0
        self.t0 = time.perf_counter()
        self._last_log = self.t0
        self._interval = interval
        self.enabled = enabled
        self._tty = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = None

    @property
    def total(self):
        """Seconds of audio in all, estimated from the files done (exact once all are)."""
        if self.done_files == self.n_files or not self.done_bytes:
            return self.done_seconds
        return max(self.done_seconds, self.total_bytes * self.done_seconds / self.done_bytes)

    def _stats(self):
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        speed = self.done_seconds / elapsed
        rate = self.done_bytes / elapsed
        eta = max(0.0, self.total_bytes - self.done_bytes) / rate if rate > 0 else float("inf")
        return speed, eta

    def update(self, seconds, nbytes):
        """Count one finished file of ``seconds`` of audio and ``nbytes`` of input."""
        self.done_files += 1
        self.done_seconds += seconds
        self.done_bytes += nbytes
        if not self.enabled:
            return
        speed, eta = self._stats()
        if self._tty:
            from tqdm import tqdm

            if self.bar is None:
                self.bar = tqdm(total=max(self.total, 1e-9) / 3600, file=self.stream,
                                bar_format="{l_bar}{bar}| {n:.3f}/{total:.3f} h audio [{elapsed}{postfix}]")
            # Set, not added: the estimated total moves as files finish.
            self.bar.total = max(self.total, 1e-9) / 3600
            self.bar.n = min(self.done_seconds, self.total) / 3600
            left = tqdm.format_interval(eta) if eta != float("inf") else "?"
            self.bar.set_postfix_str(f"ETA {left}, {self.done_files}/{self.n_files} files, {speed:,.0f}x real time",
                                     refresh=False)
            self.bar.refresh()
        elif time.perf_counter() - self._last_log >= self._interval or self.done_files == self.n_files:
            self._last_log = time.perf_counter()
            print(f"fastspec convert: {self.done_files}/{self.n_files} files, "
                  f"{self.done_seconds / 3600:.3f}/{self.total / 3600:.3f} h audio, {speed:,.0f}x real time, "
                  f"ETA {eta:.0f} s", file=self.stream, flush=True)

    def message(self, text):
        """Print a line without breaking the bar."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self):
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()


