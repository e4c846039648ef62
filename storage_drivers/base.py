"""The storage driver contract.

A driver stores bytes under opaque slash-separated paths (``a/b/c``, no leading
slash, no ``.`` or ``..`` components) and knows nothing about registries.  The
registry's storage layer (``registry_app.store``) builds every path; drivers
only move bytes.  Directories are implicit: a directory exists while some file
exists below it, as on S3.

The contract is small on purpose so that a new backend is one file, and it is
stated in full by the shared test suite in ``tests/drivers/``.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import BinaryIO, Iterator


class StorageError(Exception):
    """Base of every error a driver raises on purpose."""


class PathNotFound(StorageError):
    def __init__(self, path: str):
        super().__init__(f"path not found: {path}")
        self.path = path


class AlreadyExists(StorageError):
    """An exclusive write found the path taken (create-if-absent lost)."""

    def __init__(self, path: str):
        super().__init__(f"path exists: {path}")
        self.path = path


class WriterBusy(StorageError):
    """Another request is appending to the same file right now."""


class InvalidResume(StorageError):
    """A resume token no longer matches what is stored."""


@dataclasses.dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    is_dir: bool
    mtime: float


class Writer(abc.ABC):
    """Appends to one file across requests, processes and instances.

    ``checkpoint()`` makes everything written so far durable and returns a
    JSON-serialisable token; a later ``driver.writer(path, resume=token)`` (in
    any process holding the same storage) continues from exactly that point,
    discarding anything written after the checkpoint.  ``commit()`` makes the
    whole content visible (at ``path``, or elsewhere: committing straight to
    the final place saves a copy); ``cancel()`` discards it.  ``close()``
    releases resources without discarding checkpointed data.

    ``holds_lock`` is True where the writer excludes every other writer of the
    same file for its whole life (``WriterBusy``); callers may then check
    their state under it.
    """

    holds_lock = False

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Bytes written in total, including those before the resume point."""

    @abc.abstractmethod
    def write(self, data: bytes) -> int: ...

    @abc.abstractmethod
    def checkpoint(self) -> dict: ...

    @abc.abstractmethod
    def commit(self, path: str | None = None) -> None:
        """Make the whole content visible, at the writer's path or at ``path``
        (replacing it atomically), with no partial content ever visible there."""

    @abc.abstractmethod
    def cancel(self) -> None: ...

    def close(self) -> None:
        """Release locks and buffers; checkpointed data stays."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class StorageDriver(abc.ABC):
    """Bytes under paths.  Every method raises ``PathNotFound`` for a missing path."""

    name = "abstract"

    @abc.abstractmethod
    def read(self, path: str) -> bytes:
        """The whole content of a small file."""

    @abc.abstractmethod
    def write(self, path: str, data: bytes, *, exclusive: bool = False) -> None:
        """Replace ``path`` atomically; with ``exclusive`` raise ``AlreadyExists`` if it exists."""

    @abc.abstractmethod
    def open_reader(self, path: str, offset: int = 0) -> BinaryIO:
        """A readable file positioned at ``offset``.  Filesystem readers have a real fileno."""

    @abc.abstractmethod
    def writer(self, path: str, resume: dict | None = None) -> Writer:
        """A writer for a new file, or one continuing from a checkpoint token.

        May raise ``WriterBusy`` when another writer holds the same file.
        """

    @abc.abstractmethod
    def stat(self, path: str) -> FileInfo: ...

    @abc.abstractmethod
    def list(self, path: str) -> list[str]:
        """Names (not paths) of the direct children of a directory, in byte order."""

    @abc.abstractmethod
    def move(self, src: str, dst: str) -> None:
        """Move a file, replacing ``dst`` atomically."""

    @abc.abstractmethod
    def delete(self, path: str) -> None:
        """Delete a file or a whole directory tree."""

    def url_for(self, path: str, *, expires_in: int = 1200) -> str | None:
        """A URL a client can GET the file from directly, or None (serve it yourself)."""
        return None

    @abc.abstractmethod
    def walk(self, path: str) -> Iterator[FileInfo]:
        """Every file below ``path``, recursively, in no particular order."""

    def find_dirs(self, path: str, marker: str) -> list[str]:
        """Paths, relative to ``path``, of the directories below it that hold a
        child whose name starts with ``marker``, in byte order.  Children whose
        names start with ``marker`` are never searched.

        The registry's catalog uses this to find repositories (directories that
        hold ``_layers``/``_manifests``; ``a`` and ``a/b`` may both be one)
        without walking into their content.  Drivers with a faster way (S3:
        one delimiter listing) override it.
        """
        found: list[str] = []

        def visit(rel: str) -> None:
            try:
                names = self.list(f"{path}/{rel}" if rel else path)
            except PathNotFound:
                return
            if rel and any(n.startswith(marker) for n in names):
                found.append(rel)
            for n in names:
                if not n.startswith(marker):
                    visit(f"{rel}/{n}" if rel else n)

        visit("")
        return sorted(found, key=str.encode)

    def close(self) -> None:
        """Release connections."""
