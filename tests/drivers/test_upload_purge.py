"""``storage.maintenance.uploadpurging``: stale uploads are removed, fresh ones kept,
on every driver; on S3 their multipart uploads are aborted too (issue 3)."""

import datetime

from registry_app.store import paths
from registry_app.store.purge import purge_uploads
from registry_app.store.repository import Store
from registry_app.store.signing import Signer
from registry_app.store.uploads import Uploads

MiB = 1024 * 1024


def _upload_with_data(uploads: Uploads, name: str):
    upload = uploads.start(name)
    return uploads.append(upload, [b"z" * (6 * MiB)])


def test_purge_removes_only_stale_uploads(driver):
    uploads = Uploads(driver, Store(driver), Signer("s"))
    stale = _upload_with_data(uploads, "team/app")
    fresh = _upload_with_data(uploads, "team/app")
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=8)).isoformat()
    driver.write(paths.upload_started_at(stale.name, stale.id), old.encode())

    assert purge_uploads(driver, 7 * 86400, dry_run=True) == [paths.upload(stale.name, stale.id)]
    assert driver.list(paths.uploads("team/app")) == sorted([stale.id, fresh.id])

    assert purge_uploads(driver, 7 * 86400) == [paths.upload(stale.name, stale.id)]
    assert driver.list(paths.uploads("team/app")) == [fresh.id]
    if driver.name == "s3":
        remaining = driver.s3.list_multipart_uploads(Bucket=driver.bucket).get("Uploads", [])
        assert [u["UploadId"] for u in remaining] == [fresh.resume["upload_id"]]
