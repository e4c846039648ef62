"""Process helpers for bench/run.py: ports, start/stop by PID, readiness,
and memory sampling of a process tree from /proc/PID/smaps_rollup."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process started by the benchmark, stopped by its own PID."""

    def __init__(self, name: str, argv: list[str], log_path: str,
                 env: dict | None = None, cwd: str | None = None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=env, cwd=cwd)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen.poll() is None:
            kids = descendants(self.pid)
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(5)
            # Children it left behind (e.g. gunicorn workers), by their PIDs.
            deadline = time.monotonic() + 5
            for pid in kids:
                while _exists(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _exists(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self._log.close()


def _exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def descendants(pid: int) -> list[int]:
    seen: list[int] = []
    todo = children(pid)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.append(p)
            todo.extend(children(p))
    return seen


def tree(pid: int) -> list[int]:
    return [pid] + descendants(pid)


def smaps_rollup(pid: int) -> tuple[int, int]:
    """(Rss, Pss) of one process in KiB; (0, 0) if it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, pss


def tree_memory(pid: int) -> tuple[int, int]:
    """Summed (Rss, Pss) in KiB over the process and all its descendants."""
    rss = pss = 0
    for p in tree(pid):
        r, s = smaps_rollup(p)
        rss += r
        pss += s
    return rss, pss


class MemorySampler:
    """Samples tree_memory(pid) every `interval` seconds in a thread; keeps
    the peaks.  Use as a context manager."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        rss, pss = tree_memory(self.pid)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemorySampler":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()


def wait_http(url: str, proc: Proc | None = None, timeout: float = 60.0,
              want: int = 200) -> None:
    """Polls url until it answers `want`; raises with the log tail if the
    process dies or time runs out."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode} before "
                f"{url} answered; log tail:\n{proc.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == want:
                    return
                last = r.status
        except urllib.error.HTTPError as e:
            last = e.code
            if e.code == want:
                return
        except OSError as e:
            last = e
        time.sleep(0.1)
    tail = proc.log_tail() if proc is not None else ""
    raise RuntimeError(f"{url} did not answer {want} within {timeout}s "
                       f"(last: {last}); log tail:\n{tail}")


_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the process and all its
    live descendants."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return total / _TICK
