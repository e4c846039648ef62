"""Filesystem driver: paths map to files below ``rootdirectory``.

Writes go to a temporary file beside the target and are renamed into place,
so a reader never sees a partial file.  An appending writer holds an
exclusive ``flock`` on its file for its whole life, so two requests of one
upload (in any worker of this host) never interleave their bytes; the lock
dies with its process, so a killed worker never leaves an upload stuck.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import time
import uuid
from typing import BinaryIO, Iterator

from .base import AlreadyExists, FileInfo, InvalidResume, PathNotFound, StorageDriver, Writer, WriterBusy


# No repository name, tag or digest starts with a dot, so temporary names never
# collide with content and listings can skip them.
_TEMP = ".tmp-"


def _temp_beside(full: str) -> str:
    return os.path.join(os.path.dirname(full), f"{_TEMP}{uuid.uuid4().hex}")


class FilesystemDriver(StorageDriver):
    name = "filesystem"

    def __init__(self, rootdirectory: str = "/var/lib/registry", **_ignored):
        self.root = os.path.abspath(str(rootdirectory))
        self._scans: dict[str, tuple[float, bool, list[str]]] = {}  # see find_dirs

    def _full(self, path: str) -> str:
        parts = path.split("/")
        if not path or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid storage path: {path!r}")
        return os.path.join(self.root, *parts)

    def _makedirs_for(self, full: str) -> None:
        for _ in range(3):
            try:
                os.makedirs(os.path.dirname(full), exist_ok=True)
                return
            except FileExistsError:
                continue  # a concurrent delete renamed a parent away mid-way: try again
        os.makedirs(os.path.dirname(full), exist_ok=True)

    def read(self, path: str) -> bytes:
        try:
            with open(self._full(path), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PathNotFound(path) from None

    def write(self, path: str, data: bytes, *, exclusive: bool = False) -> None:
        full = self._full(path)
        tmp = _temp_beside(full)
        try:
            f = open(tmp, "wb")
        except FileNotFoundError:  # a new directory, or one a concurrent delete just removed
            self._makedirs_for(full)
            f = open(tmp, "wb")
        with f:
            f.write(data)
        if not exclusive:
            os.replace(tmp, full)
            return
        try:
            os.link(tmp, full)  # atomic create-if-absent with the content already in place
        except FileExistsError:
            raise AlreadyExists(path) from None
        finally:
            os.unlink(tmp)

    def open_reader(self, path: str, offset: int = 0) -> BinaryIO:
        try:
            f = open(self._full(path), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PathNotFound(path) from None
        if offset:
            f.seek(offset)
        return f

    def writer(self, path: str, resume: dict | None = None) -> Writer:
        full = self._full(path)
        if not resume:
            self._makedirs_for(full)
        return _FileWriter(self, full, path, resume)

    def stat(self, path: str) -> FileInfo:
        try:
            st = os.stat(self._full(path))
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        is_dir = os.path.isdir(self._full(path))
        return FileInfo(path, 0 if is_dir else st.st_size, is_dir, st.st_mtime)

    def list(self, path: str) -> list[str]:
        full = self._full(path)
        try:
            names = os.listdir(full)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        return sorted(n for n in names if not n.startswith(_TEMP))

    def move(self, src: str, dst: str) -> None:
        full_dst = self._full(dst)
        self._makedirs_for(full_dst)
        try:
            os.replace(self._full(src), full_dst)
        except FileNotFoundError:
            raise PathNotFound(src) from None

    def delete(self, path: str) -> None:
        full = self._full(path)
        try:
            if os.path.isdir(full):
                # Rename first so that a concurrent writer never sees half a tree.
                doomed = _temp_beside(full)
                os.rename(full, doomed)
                shutil.rmtree(doomed, ignore_errors=True)
            else:
                os.unlink(full)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None

    def walk(self, path: str) -> Iterator[FileInfo]:
        full = self._full(path)
        if not os.path.exists(full):
            raise PathNotFound(path)
        for dirpath, _dirs, files in os.walk(full):
            for name in files:
                if name.startswith(_TEMP):
                    continue
                fp = os.path.join(dirpath, name)
                try:
                    st = os.stat(fp)
                except FileNotFoundError:
                    continue
                rel = os.path.relpath(fp, self.root).replace(os.sep, "/")
                yield FileInfo(rel, st.st_size, False, st.st_mtime)

    def find_dirs(self, path: str, marker: str) -> list[str]:
        """A walk that rescans only directories changed since the last walk.

        The catalog walks every repository directory on every request; a stat
        is far cheaper than a listing, and a directory's mtime changes whenever
        an entry is added to or removed from it.  Directories changed within
        the last two seconds are always rescanned, so coarse mtime resolution
        never hides a change.
        """
        found: list[str] = []
        fresh = time.time() - 2

        def visit(full: str, rel: str) -> None:
            try:
                mtime = os.stat(full).st_mtime
            except (FileNotFoundError, NotADirectoryError):
                return
            cached = self._scans.get(full)
            if cached is None or cached[0] != mtime or mtime > fresh:
                try:
                    with os.scandir(full) as it:
                        entries = list(it)
                except (FileNotFoundError, NotADirectoryError):
                    return
                holds = any(e.name.startswith(marker) for e in entries)
                subdirs = [
                    e.name for e in entries
                    if not e.name.startswith((marker, _TEMP)) and e.is_dir(follow_symlinks=False)
                ]
                cached = self._scans[full] = (mtime, holds, subdirs)
            if rel and cached[1]:
                found.append(rel)
            for name in cached[2]:
                visit(f"{full}/{name}", f"{rel}/{name}" if rel else name)

        visit(self._full(path), "")
        return sorted(found, key=str.encode)


class _FileWriter(Writer):
    holds_lock = True

    def __init__(self, driver: FilesystemDriver, full: str, path: str, resume: dict | None):
        self._driver = driver
        self._full = full
        self._path = path
        # A resumed file must still be there: never recreate one that was
        # committed, moved away or cancelled meanwhile.
        flags = os.O_WRONLY | os.O_APPEND | (0 if resume else os.O_CREAT)
        try:
            self._f = os.fdopen(os.open(full, flags, 0o644), "ab")
        except FileNotFoundError:
            raise InvalidResume(f"{path}: no longer exists") from None
        try:
            fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            self._f.close()
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise WriterBusy(path) from None
            raise
        self._start = int(resume["size"]) if resume else 0
        self._size = self._start
        self._positioned = False

    @property
    def size(self) -> int:
        return self._size

    def _position(self) -> None:
        """Drop bytes past the resume point (left by a request that died) before the first write.

        Done lazily, not in ``__init__``, so that the caller can first confirm
        under the lock that its resume token is still the newest one.
        """
        if self._positioned:
            return
        on_disk = os.fstat(self._f.fileno()).st_size
        if on_disk < self._start:
            raise InvalidResume(f"{self._path}: {on_disk} bytes stored, resume at {self._start}")
        if on_disk > self._start:
            self._f.truncate(self._start)
        self._f.seek(self._start)
        self._positioned = True

    def write(self, data: bytes) -> int:
        self._position()
        n = self._f.write(data)
        self._size += n
        return n

    def checkpoint(self) -> dict:
        self._position()
        self._f.flush()
        return {"size": self._size}

    def commit(self, path: str | None = None) -> None:
        self.checkpoint()
        if path is not None:
            self._driver.move(self._path, path)

    def cancel(self) -> None:
        self.close()
        try:
            os.unlink(self._full)
        except FileNotFoundError:
            pass

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()
