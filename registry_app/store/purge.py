"""Purging stale uploads (``storage.maintenance.uploadpurging``).

An upload a client abandoned leaves its directory (and, on S3, a multipart
upload that is billed until aborted).  ``purge_uploads`` removes every upload
older than ``age``; ``purger_for_instance`` repeats that every ``interval`` in
one worker per instance (see ``gunicorn_settings``), never in every worker.
"""

from __future__ import annotations

import datetime
import fcntl
import logging
import os
import random
import tempfile
import time

from storage_drivers import PathNotFound, StorageDriver

from ..config import parse_duration
from . import paths

log = logging.getLogger("registry.purge")


def _started_at(driver: StorageDriver, upload_dir: str) -> float:
    """When the upload began: its ``startedat`` record (Distribution's), else the directory's age."""
    try:
        text = driver.read(f"{upload_dir}/startedat").decode().strip()
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (PathNotFound, ValueError, UnicodeDecodeError):
        return min((f.mtime for f in driver.walk(upload_dir)), default=time.time())


def purge_uploads(driver: StorageDriver, older_than: float, dry_run: bool = False) -> list[str]:
    """Delete uploads started more than ``older_than`` seconds ago; the upload directories purged."""
    cutoff = time.time() - older_than
    # Staleness comes from the registry's own record, never from the store's
    # idea of when a multipart upload began (some S3 stores report nonsense).
    abort = getattr(driver, "purge_uploads", None)
    purged = []
    for repository in driver.find_dirs(paths.REPOSITORIES, "_"):
        root = paths.uploads(repository)
        try:
            upload_ids = driver.list(root)
        except PathNotFound:
            continue
        for upload_id in upload_ids:
            upload_dir = f"{root}/{upload_id}"
            try:
                if _started_at(driver, upload_dir) >= cutoff:
                    continue
                purged.append(upload_dir)
                if abort is not None:
                    abort(upload_dir, 0, dry_run)
                if not dry_run:
                    driver.delete(upload_dir)
            except PathNotFound:
                continue
    return purged


def purger_for_instance(driver: StorageDriver, settings: dict, instance_id: int) -> None:
    """Purge every ``interval`` while holding this instance's purger lock.

    Each worker runs this in a thread; the non-blocking ``flock`` lets exactly
    one of them purge, and when that worker dies its lock goes with it and
    another worker takes over at its next try.
    """
    age = parse_duration(settings.get("age", "168h"))
    interval = parse_duration(settings.get("interval", "24h"))
    dry_run = bool(settings.get("dryrun"))
    lock_path = os.path.join(tempfile.gettempdir(), f"registry-upload-purger-{instance_id}.lock")
    with open(lock_path, "a") as lock:
        # Instances started together should not all purge at the same moment.
        time.sleep(random.uniform(0, min(interval, 60.0)))
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                time.sleep(interval)
                continue
            try:
                purged = purge_uploads(driver, age, dry_run)
                log.info("upload purge: %s %d stale uploads", "would purge" if dry_run else "purged", len(purged))
            except Exception:
                log.exception("upload purge failed; retrying after the interval")
            time.sleep(interval)
