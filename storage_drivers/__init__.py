"""Storage drivers: bytes under opaque paths (see ``base`` for the contract)."""

from .base import (
    AlreadyExists,
    FileInfo,
    InvalidResume,
    PathNotFound,
    StorageDriver,
    StorageError,
    Writer,
    WriterBusy,
)

__all__ = [
    "AlreadyExists", "FileInfo", "InvalidResume", "PathNotFound", "StorageDriver", "StorageError", "Writer",
    "WriterBusy", "create_driver",
]


def create_driver(kind: str, params: dict) -> StorageDriver:
    """The driver named by Distribution's ``storage.<kind>`` section."""
    if kind == "filesystem":
        from .filesystem import FilesystemDriver

        return FilesystemDriver(**params)
    if kind == "inmemory":
        from .inmemory import InMemoryDriver

        return InMemoryDriver(**params)
    if kind == "s3":
        from .s3 import S3Driver

        return S3Driver(**params)
    raise ValueError(f"unknown storage driver {kind!r} (filesystem, s3, inmemory)")
