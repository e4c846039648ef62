"""In-memory driver for fast tests: one dict of path -> bytes per process.

Its content is private to one process, so use it with the Flask test client or
a single gunicorn worker.  Instances made with the same ``name`` share content,
which lets tests model "a new driver instance on the same storage".
"""

from __future__ import annotations

import io
import threading
import time
from typing import BinaryIO, Iterator

from .base import AlreadyExists, FileInfo, InvalidResume, PathNotFound, StorageDriver, Writer, WriterBusy

_STORES: dict[str, "_Store"] = {}


class _Store:
    def __init__(self):
        self.files: dict[str, tuple[bytes, float]] = {}
        self.pending: dict[str, bytes] = {}  # checkpointed writer content, invisible until commit
        self.writing: set[str] = set()
        self.lock = threading.Lock()


class InMemoryDriver(StorageDriver):
    name = "inmemory"

    def __init__(self, name: str = "default", **_ignored):
        self._store = _STORES.setdefault(str(name), _Store())
        self._files, self._lock = self._store.files, self._store.lock

    def read(self, path: str) -> bytes:
        try:
            return self._files[path][0]
        except KeyError:
            raise PathNotFound(path) from None

    def write(self, path: str, data: bytes, *, exclusive: bool = False) -> None:
        with self._lock:
            if exclusive and path in self._files:
                raise AlreadyExists(path)
            self._files[path] = (bytes(data), time.time())

    def open_reader(self, path: str, offset: int = 0) -> BinaryIO:
        reader = io.BytesIO(self.read(path))
        reader.seek(offset)
        return reader

    def writer(self, path: str, resume: dict | None = None) -> Writer:
        return _MemoryWriter(self, path, resume)

    def stat(self, path: str) -> FileInfo:
        if path in self._files:
            data, mtime = self._files[path]
            return FileInfo(path, len(data), False, mtime)
        prefix = path + "/"
        if any(k.startswith(prefix) for k in list(self._files)):
            return FileInfo(path, 0, True, time.time())
        raise PathNotFound(path)

    def list(self, path: str) -> list[str]:
        prefix = path + "/"
        names = {k[len(prefix):].split("/", 1)[0] for k in list(self._files) if k.startswith(prefix)}
        if not names:
            raise PathNotFound(path)
        return sorted(names)

    def move(self, src: str, dst: str) -> None:
        with self._lock:
            try:
                self._files[dst] = self._files.pop(src)
            except KeyError:
                raise PathNotFound(src) from None

    def delete(self, path: str) -> None:
        prefix = path + "/"
        with self._lock:
            doomed = [k for k in self._files if k == path or k.startswith(prefix)]
            if not doomed:
                raise PathNotFound(path)
            for k in doomed:
                del self._files[k]
            for k in [k for k in self._store.pending if k == path or k.startswith(prefix)]:
                del self._store.pending[k]

    def walk(self, path: str) -> Iterator[FileInfo]:
        prefix = path + "/"
        found = [(k, v) for k, v in list(self._files.items()) if k.startswith(prefix)]
        if not found:
            raise PathNotFound(path)
        for k, (data, mtime) in found:
            yield FileInfo(k, len(data), False, mtime)


class _MemoryWriter(Writer):
    """Keeps checkpointed bytes aside so the target appears only on commit."""

    holds_lock = True

    def __init__(self, driver: InMemoryDriver, path: str, resume: dict | None):
        self._path = path
        self._store = driver._store
        with self._store.lock:
            if path in self._store.writing:
                raise WriterBusy(path)
            self._store.writing.add(path)
        self._start = int(resume["size"]) if resume else 0
        stored = self._store.pending.get(path, b"")
        if len(stored) < self._start:
            self.close()
            raise InvalidResume(path)
        self._buf = bytearray(stored[: self._start])

    @property
    def size(self) -> int:
        return len(self._buf)

    def write(self, data: bytes) -> int:
        self._buf += data
        return len(data)

    def checkpoint(self) -> dict:
        self._store.pending[self._path] = bytes(self._buf)
        return {"size": len(self._buf)}

    def commit(self, path: str | None = None) -> None:
        with self._store.lock:
            self._store.pending.pop(self._path, None)
            self._store.files[path or self._path] = (bytes(self._buf), time.time())

    def cancel(self) -> None:
        self._store.pending.pop(self._path, None)
        self.close()

    def close(self) -> None:
        self._store.writing.discard(self._path)
