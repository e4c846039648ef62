"""Upload sessions: offset, digest state and commit, all kept in storage.

Nothing about an upload lives in a worker's memory: after each request the
running hash state and the driver's resume token are written as one signed
record at ``_uploads/<id>/hashstates/<alg>/<offset>``.  The request that
moves an upload past an offset (a PATCH, or the closing PUT) first creates
``<offset>.next`` with an exclusive write, so when two requests race from the
same offset exactly one of them wins and the other is answered 416.  Any
worker of any instance sharing the storage and ``http.secret`` can take the
next request.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import hashlib
import json
import uuid
from typing import Iterable

from storage_drivers import AlreadyExists, InvalidResume, PathNotFound, StorageDriver, WriterBusy

from ..digest import Digest
from ..errors import BlobUploadInvalid, BlobUploadUnknown, DigestInvalid, RangeInvalid, SizeInvalid
from . import paths
from .hashstate import HashState
from .repository import BlobInfo, Store
from .signing import BadSignature, Signer

SECRET_HINT = (
    "the upload state token is not valid for this registry: every instance serving this "
    "registry must be configured with the same http.secret"
)


@dataclasses.dataclass(frozen=True)
class Upload:
    name: str
    id: str
    algorithm: str
    started_at: str
    offset: int = 0
    hash_state: bytes | None = None
    resume: dict | None = None


def range_header(offset: int) -> str:
    """The ``Range`` of bytes received so far, Distribution's way (``0-0`` when empty)."""
    return f"0-{max(offset - 1, 0)}"


class Uploads:
    def __init__(self, driver: StorageDriver, store: Store, signer: Signer):
        self.driver = driver
        self.store = store
        self.signer = signer

    # -- tokens and state records ------------------------------------------------

    def token(self, upload: Upload) -> str:
        return self.signer.sign_token(
            "upload", {"n": upload.name, "u": upload.id, "a": upload.algorithm, "t": upload.started_at}
        )

    def _record_purpose(self, name: str, upload_id: str) -> str:
        return f"upload-state:{name}/{upload_id}"

    def _write_state(self, upload: Upload) -> None:
        record = {
            "offset": upload.offset,
            "hash": base64.b64encode(upload.hash_state).decode() if upload.hash_state else None,
            "resume": upload.resume,
        }
        sealed = self.signer.seal(self._record_purpose(upload.name, upload.id), json.dumps(record).encode())
        path = paths.upload_state(upload.name, upload.id, upload.algorithm, upload.offset)
        try:
            self.driver.write(path, sealed, exclusive=True)
        except AlreadyExists:
            raise self._conflict(upload.offset) from None

    def _latest(self, upload: Upload) -> Upload:
        offsets = sorted(int(n) for n in self._state_names(upload) if n.isdigit())
        if not offsets:
            raise BlobUploadUnknown({"upload": upload.id})
        path = paths.upload_state(upload.name, upload.id, upload.algorithm, offsets[-1])
        try:
            sealed = self.driver.read(path)
            record = json.loads(self.signer.unseal(self._record_purpose(upload.name, upload.id), sealed))
            offset = record["offset"]
            if offset != offsets[-1]:
                raise ValueError("offset does not match the record's name")
            hash_state = base64.b64decode(record["hash"]) if record["hash"] else None
        except PathNotFound:
            raise BlobUploadUnknown({"upload": upload.id}) from None
        except (BadSignature, ValueError, KeyError, TypeError):
            raise BlobUploadInvalid({"upload": upload.id, "reason": SECRET_HINT}) from None
        return dataclasses.replace(upload, offset=offset, hash_state=hash_state, resume=record["resume"])

    def _conflict(self, offset: int) -> RangeInvalid:
        return RangeInvalid(
            {"reason": "another request changed this upload; ask for its status and resume"},
            headers={"Range": range_header(offset)},
        )

    # -- the session -------------------------------------------------------------

    def start(self, name: str, algorithm: str = "sha256") -> Upload:
        started_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
        upload = Upload(name, str(uuid.uuid4()), algorithm, started_at)
        self.driver.write(paths.upload_started_at(name, upload.id), started_at.encode())
        upload = dataclasses.replace(upload, hash_state=HashState.new(algorithm).to_bytes())
        self._write_state(upload)
        return upload

    def resume(self, name: str, upload_id: str, token: str | None) -> Upload:
        """The upload named by a URL, with its newest durable state.

        An upload that does not exist is 404 whatever its token; a token that is
        missing, forged or another upload's is 400 for one that does.
        """
        try:
            fields = self.signer.verify_token("upload", token) if token else None
        except BadSignature:
            fields = None
        if not (fields and fields.get("n") == name and fields.get("u") == upload_id
                and fields.get("a") in ("sha256", "sha512")):
            try:
                self.driver.stat(paths.upload_started_at(name, upload_id))
            except PathNotFound:
                raise BlobUploadUnknown({"upload": upload_id}) from None
            if not token:
                raise BlobUploadInvalid({"reason": "the upload URL lacks its _state token"})
            if fields is None:
                raise BlobUploadInvalid({"reason": SECRET_HINT})
            raise BlobUploadInvalid({"reason": "the upload state token belongs to another upload"})
        return self._latest(Upload(name, upload_id, fields["a"], str(fields.get("t", ""))))

    def _hasher(self, upload: Upload) -> HashState | None:
        if upload.hash_state is None:
            return None
        try:
            return HashState.from_bytes(upload.algorithm, upload.hash_state)
        except ValueError:
            return None  # verify by rereading instead

    def _write_body(self, upload: Upload, writer, chunks: Iterable[bytes], expected_length: int | None):
        """Stream ``chunks`` into ``writer`` (holding its lock, where the driver has one).

        Where the writer holds a lock, first checked under it: the upload is
        still at ``upload.offset`` and nobody claimed the step past it, so no
        bytes go into data a closing PUT is verifying or moving.  Without a lock
        (S3) the exclusive claim alone decides, and a loser's parts are never
        part of what the winner completes.
        """
        if writer.holds_lock:
            names = self._state_names(upload)
            latest = max((int(n) for n in names if n.isdigit()), default=-1)
            if latest != upload.offset or f"{latest}.next" in names:
                raise self._conflict(max(latest, 0))
        hasher = self._hasher(upload)
        received = 0
        for chunk in chunks:
            writer.write(chunk)
            if hasher is not None:
                hasher.update(chunk)
            received += len(chunk)
        if expected_length is not None and received != expected_length:
            raise SizeInvalid({"expected": expected_length, "received": received})
        return hasher, received

    def _state_names(self, upload: Upload) -> list[str]:
        try:
            return self.driver.list(paths.upload_states(upload.name, upload.id, upload.algorithm))
        except PathNotFound:
            raise BlobUploadUnknown({"upload": upload.id}) from None

    def _claim_next(self, upload: Upload) -> None:
        """Take the one step past ``upload.offset`` (a PATCH's or the closing PUT's).

        Created exclusively, so of two requests racing from one offset, a PATCH
        and the closing PUT included, exactly one goes on and the other gets 416.
        """
        path = paths.upload_claim(upload.name, upload.id, upload.algorithm, upload.offset)
        try:
            self.driver.write(path, b"", exclusive=True)
        except AlreadyExists:
            raise self._conflict(upload.offset) from None

    @contextlib.contextmanager
    def _writer(self, upload: Upload):
        """The upload's data writer: busy is a conflict; stale is an invalid or finished upload."""
        try:
            writer = self.driver.writer(paths.upload_data(upload.name, upload.id), resume=upload.resume)
        except WriterBusy:
            raise self._conflict(upload.offset) from None
        except InvalidResume:
            self._state_names(upload)  # 404 once the upload has finished or been cancelled
            raise BlobUploadInvalid({"reason": "upload data no longer matches its state"}) from None
        try:
            with writer:
                yield writer
        except InvalidResume:
            self._state_names(upload)
            raise BlobUploadInvalid({"reason": "upload data no longer matches its state"}) from None

    def append(self, upload: Upload, chunks: Iterable[bytes], start: int | None = None,
               expected_length: int | None = None) -> Upload:
        """A PATCH: add a chunk at the current offset (``start`` when the client named one)."""
        if start is not None and start != upload.offset:
            raise self._conflict(upload.offset)
        with self._writer(upload) as writer:
            hasher, received = self._write_body(upload, writer, chunks, expected_length)
            if received == 0:
                return upload
            resume = writer.checkpoint()
            self._claim_next(upload)
            advanced = dataclasses.replace(
                upload,
                offset=upload.offset + received,
                hash_state=hasher.to_bytes() if hasher is not None else None,
                resume=resume,
            )
            self._write_state(advanced)
        return advanced

    def finish(self, upload: Upload, chunks: Iterable[bytes], digest: Digest, start: int | None = None,
               expected_length: int | None = None) -> BlobInfo:
        """The closing PUT: take the last chunk, verify the digest, make the blob visible.

        All of it happens holding the writer, after claiming the step past the
        current offset: no PATCH can add bytes to data being verified or moved.
        """
        if start is not None and start != upload.offset:
            raise self._conflict(upload.offset)
        data_path = paths.upload_data(upload.name, upload.id)
        with self._writer(upload) as writer:
            hasher, received = self._write_body(upload, writer, chunks, expected_length)
            self._claim_next(upload)
            blob_path = paths.blob_data(digest)
            streamed = hasher is not None and hasher.algorithm == digest.algorithm
            if streamed:
                actual = hasher.hexdigest()
            else:  # no usable hash state: assemble, then read it once
                writer.commit()
                actual = self._reread_digest(data_path, digest.algorithm)
            if actual != digest.hex:
                self._discard(upload, writer)
                raise DigestInvalid({"expected": str(digest), "actual": f"{digest.algorithm}:{actual}"})
            if self.store.blob_exists(digest):
                writer.cancel()  # the same bytes are stored already
            elif streamed:
                writer.commit(blob_path)  # verified before anything became visible
            else:
                self.driver.move(data_path, blob_path)
            self.store.link_blob(upload.name, digest)
            self._delete_session(upload)
        return BlobInfo(digest, upload.offset + received)

    def _reread_digest(self, path: str, algorithm: str) -> str:
        """The fallback when no hash state could be kept: read the assembled data once."""
        h = hashlib.new(algorithm)
        with self.driver.open_reader(path) as reader:
            while block := reader.read(1 << 20):
                h.update(block)
        return h.hexdigest()

    def _discard(self, upload: Upload, writer) -> None:
        writer.cancel()
        self._delete_session(upload)

    def _delete_session(self, upload: Upload) -> None:
        try:
            self.driver.delete(paths.upload(upload.name, upload.id))
        except PathNotFound:
            pass

    def cancel(self, upload: Upload) -> None:
        """DELETE of the upload URL: abort the driver's upload and forget the session."""
        try:
            writer = self.driver.writer(paths.upload_data(upload.name, upload.id), resume=upload.resume)
        except (WriterBusy, InvalidResume):
            writer = None
        if writer is not None:
            writer.cancel()
        self._delete_session(upload)
