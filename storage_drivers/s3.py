"""S3 driver (boto3), configured with Distribution's ``storage.s3`` keys.

Keys are ``<rootdirectory>/<path>``, the layout Distribution's S3 driver uses,
so a bucket written by Distribution is served unchanged.

Appending writers use one S3 multipart upload per file.  S3 rejects non-final
parts under 5 MiB, but clients send chunks of any size, so at a checkpoint a
remainder under 5 MiB is stored as a small "tail" object (unique name per
checkpoint) and the next writer reads it back and joins it with the following
data.  That is the only data ever read back, at most 5 MiB per resume.
Everything a resume needs lives in the bucket and the token, so any instance
can continue an upload.
"""

from __future__ import annotations

import datetime
import io
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .base import AlreadyExists, FileInfo, InvalidResume, PathNotFound, StorageDriver, StorageError, Writer

MiB = 1024 * 1024
MIN_PART = 5 * MiB  # S3's minimum size of every part but the last
MAX_PART = 5 * 1024 * MiB  # S3's maximum part size, and the CopyObject limit
MAX_PARTS = 10000
POOL = 32
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


_session_lock = threading.Lock()
_shared_session: boto3.session.Session | None = None


def _session() -> boto3.session.Session:
    """One session per process, so that each new client reuses the parsed
    service model instead of spending ~0.3 s loading it again."""
    global _shared_session
    with _session_lock:
        if _shared_session is None:
            _shared_session = boto3.session.Session()
        return _shared_session


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def _bool(value, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _int(value, default: int) -> int:
    return default if value is None or value == "" else int(value)


class S3Driver(StorageDriver):
    name = "s3"

    def __init__(
        self,
        bucket: str,
        region: str = "us-east-1",
        regionendpoint: str | None = None,
        redirectendpoint: str | None = None,
        forcepathstyle=False,
        accesskey: str | None = None,
        secretkey: str | None = None,
        sessiontoken: str | None = None,
        rootdirectory: str = "",
        chunksize=10 * MiB,
        multipartcopychunksize=32 * MiB,
        multipartcopymaxconcurrency=100,
        multipartcopythresholdsize=32 * MiB,
        encrypt=False,
        keyid: str | None = None,
        storageclass: str = "STANDARD",
        objectacl: str | None = None,
        secure=True,
        skipverify=False,
        useragent: str | None = None,
        usedualstack=False,
        accelerate=False,
        usefipsendpoint=False,
        **_ignored,  # v4auth, loglevel, ...: accepted for config compatibility
    ):
        if not bucket:
            raise ValueError("storage.s3.bucket is required")
        self.bucket = str(bucket)
        self.root = str(rootdirectory or "").strip("/")
        self.chunksize = _int(chunksize, 10 * MiB)
        if not MIN_PART <= self.chunksize <= MAX_PART:
            raise ValueError(f"chunksize must be between {MIN_PART} and {MAX_PART}, got {self.chunksize}")
        self.copy_chunksize = min(max(_int(multipartcopychunksize, 32 * MiB), MIN_PART), MAX_PART)
        self.copy_threshold = min(_int(multipartcopythresholdsize, 32 * MiB), MAX_PART)
        self.copy_concurrency = max(1, min(_int(multipartcopymaxconcurrency, 100), POOL))

        self.put_args: dict = {}
        storageclass = str(storageclass or "STANDARD").upper()
        if storageclass != "NONE":
            self.put_args["StorageClass"] = storageclass
        if _bool(encrypt, False):
            if keyid:
                self.put_args.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=str(keyid))
            else:
                self.put_args["ServerSideEncryption"] = "AES256"
        if objectacl:
            self.put_args["ACL"] = str(objectacl)

        secure = _bool(secure, True)
        config = Config(
            region_name=str(region or "us-east-1"),
            signature_version="s3v4",
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=POOL,
            connect_timeout=10,
            read_timeout=120,
            user_agent_extra=useragent or None,
            use_fips_endpoint=_bool(usefipsendpoint, False),
            s3={
                "addressing_style": "path" if _bool(forcepathstyle, False) else "auto",
                "use_accelerate_endpoint": _bool(accelerate, False),
                "use_dualstack_endpoint": _bool(usedualstack, False),
            },
            # Only where S3 requires them: S3-compatible stores often reject the
            # newer default checksums, and TLS already protects the bytes.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )

        def client(endpoint: str | None):
            if endpoint and "://" not in endpoint:
                endpoint = ("https://" if secure else "http://") + endpoint
            return _session().client(
                "s3",
                endpoint_url=endpoint or None,
                use_ssl=secure,
                verify=not _bool(skipverify, False),
                aws_access_key_id=accesskey or None,  # None: the standard credential chain
                aws_secret_access_key=secretkey or None,
                aws_session_token=sessiontoken or None,
                config=config,
            )

        self.s3 = client(regionendpoint)
        self._presigner = client(redirectendpoint) if redirectendpoint else self.s3
        self.stats = {"requests": 0, "bytes_read_back": 0}
        self._stats_lock = threading.Lock()
        self.s3.meta.events.register("request-created.s3", self._count_request)

    # -- helpers ---------------------------------------------------------------

    def _count_request(self, **_):
        with self._stats_lock:
            self.stats["requests"] += 1

    def _count_read_back(self, n: int) -> None:
        with self._stats_lock:
            self.stats["bytes_read_back"] += n

    def _key(self, path: str) -> str:
        parts = path.split("/")
        if not path or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid storage path: {path!r}")
        return f"{self.root}/{path}" if self.root else path

    def _path(self, key: str) -> str:
        return key[len(self.root) + 1 :] if self.root else key

    def _objects(self, prefix: str, delimiter: str | None = None) -> Iterator[dict]:
        """Pages of ListObjectsV2 below ``prefix``."""
        args = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            args["Delimiter"] = delimiter
        yield from self.s3.get_paginator("list_objects_v2").paginate(**args)

    def _head(self, path: str) -> dict:
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=self._key(path))
        except ClientError as e:
            if _code(e) in _NOT_FOUND:
                raise PathNotFound(path) from None
            raise

    def _delete_keys(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            resp = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if resp.get("Errors"):
                raise StorageError(f"delete failed: {resp['Errors'][:3]}")

    # -- contract --------------------------------------------------------------

    def read(self, path: str) -> bytes:
        return self.open_reader(path).read()

    def write(self, path: str, data: bytes, *, exclusive: bool = False) -> None:
        args = dict(Bucket=self.bucket, Key=self._key(path), Body=data, **self.put_args)
        if exclusive:
            args["IfNoneMatch"] = "*"
        for attempt in range(3):
            try:
                self.s3.put_object(**args)
                return
            except ClientError as e:
                if _code(e) in ("PreconditionFailed", "412"):
                    raise AlreadyExists(path) from None
                # S3 answers 409 to a conditional write racing another one: retry,
                # and the retry learns who won.
                if _code(e) != "ConditionalRequestConflict" or attempt == 2:
                    raise

    def open_reader(self, path: str, offset: int = 0) -> BinaryIO:
        args = {"Bucket": self.bucket, "Key": self._key(path)}
        if offset:
            args["Range"] = f"bytes={offset}-"
        try:
            return self.s3.get_object(**args)["Body"]
        except ClientError as e:
            if _code(e) in _NOT_FOUND:
                raise PathNotFound(path) from None
            if _code(e) != "InvalidRange":
                raise
        self._head(path)  # S3 refuses a range starting at the end; the file exists
        return io.BytesIO(b"")

    def writer(self, path: str, resume: dict | None = None) -> Writer:
        return _S3Writer(self, path, resume)

    def stat(self, path: str) -> FileInfo:
        try:
            head = self._head(path)
            return FileInfo(path, head["ContentLength"], False, head["LastModified"].timestamp())
        except PathNotFound:
            resp = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self._key(path) + "/", MaxKeys=1)
            if not resp.get("Contents"):
                raise
            return FileInfo(path, 0, True, resp["Contents"][0]["LastModified"].timestamp())

    def list(self, path: str) -> list[str]:
        prefix = self._key(path) + "/"
        names = set()
        for page in self._objects(prefix, "/"):
            names.update(p["Prefix"][len(prefix) : -1] for p in page.get("CommonPrefixes", ()))
            names.update(o["Key"][len(prefix) :] for o in page.get("Contents", ()))
        names.discard("")  # a "directory marker" object some tools create
        if not names:
            raise PathNotFound(path)
        return sorted(names)  # code point order of str is UTF-8 byte order

    def move(self, src: str, dst: str) -> None:
        size = self._head(src)["ContentLength"]
        source = {"Bucket": self.bucket, "Key": self._key(src)}
        if size <= self.copy_threshold:
            self.s3.copy_object(Bucket=self.bucket, Key=self._key(dst), CopySource=source, **self.put_args)
        else:
            self._multipart_copy(source, self._key(dst), size)
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(src))

    def _multipart_copy(self, source: dict, key: str, size: int) -> None:
        """Server-side copy in ranged parts, for objects CopyObject is too slow for (or refuses, > 5 GiB)."""
        chunk = max(self.copy_chunksize, -(-size // MAX_PARTS))
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key, **self.put_args)["UploadId"]

        def copy(part: tuple[int, int]) -> dict:
            number, start = part
            resp = self.s3.upload_part_copy(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=source,
                CopySourceRange=f"bytes={start}-{min(start + chunk, size) - 1}",
            )
            return {"PartNumber": number, "ETag": resp["CopyPartResult"]["ETag"]}

        try:
            with ThreadPoolExecutor(self.copy_concurrency) as pool:
                parts = list(pool.map(copy, enumerate(range(0, size, chunk), start=1)))
            self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            try:
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except ClientError:
                pass  # the original error matters more; purge_uploads catches the leftover
            raise

    def delete(self, path: str) -> None:
        try:
            self._head(path)
            self.s3.delete_object(Bucket=self.bucket, Key=self._key(path))
            return
        except PathNotFound:
            pass
        keys = [o["Key"] for page in self._objects(self._key(path) + "/") for o in page.get("Contents", ())]
        if not keys:
            raise PathNotFound(path)
        self._delete_keys(keys)

    def url_for(self, path: str, *, expires_in: int = 1200) -> str | None:
        return self._presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(path)}, ExpiresIn=int(expires_in)
        )

    def walk(self, path: str) -> Iterator[FileInfo]:
        found = False
        for page in self._objects(self._key(path) + "/"):
            for o in page.get("Contents", ()):
                if not o["Key"].endswith("/"):
                    found = True
                    yield FileInfo(self._path(o["Key"]), o["Size"], False, o["LastModified"].timestamp())
        if not found:
            raise PathNotFound(path)

    def find_dirs(self, path: str, marker: str) -> list[str]:
        """One delimiter listing: with Delimiter ``/<marker>`` S3 rolls every key
        up at its first ``/<marker>``, so each CommonPrefix names a directory
        holding a marker child, and nothing inside marker children is returned.
        """
        prefix = self._key(path) + "/"
        delimiter = "/" + marker
        found: set[str] = set()
        for page in self._objects(prefix, delimiter):
            found.update(p["Prefix"][len(prefix) : -len(delimiter)] for p in page.get("CommonPrefixes", ()))
        return sorted((d for d in found if d and not d.startswith(marker)), key=str.encode)

    def close(self) -> None:
        self.s3.close()
        if self._presigner is not self.s3:
            self._presigner.close()

    # -- S3 maintenance --------------------------------------------------------

    def purge_uploads(self, path: str, older_than_seconds: float, dry_run: bool = False) -> list[dict]:
        """Abort multipart uploads below ``path`` begun before the cutoff.

        Abandoned uploads are invisible to listings but their parts are billed,
        so the registry's upload purger calls this beside deleting ``_uploads``.
        """
        cutoff = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=older_than_seconds)
        aborted = []
        paginator = self.s3.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(path) + "/"):
            for up in page.get("Uploads", ()):
                key, upload_id, initiated = up["Key"], up["UploadId"], up["Initiated"]
                if initiated >= cutoff:
                    continue
                if not dry_run:
                    try:
                        self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                    except ClientError as e:
                        if _code(e) != "NoSuchUpload":
                            raise
                aborted.append(
                    {"path": self._path(key), "upload_id": upload_id, "initiated": initiated.timestamp()}
                )
        return aborted


class _S3Writer(Writer):
    """Appends through one multipart upload; see the module docstring.

    Token: ``{upload_id, parts: [[number, etag, size]], tail, tail_size, size,
    stale_tails}``.  ``tail`` is the key of the small object holding the bytes
    after the last part; ``stale_tails`` are tails this token superseded, which
    the next writer deletes once it checkpoints (by then the registry has moved
    past the token that named them).
    """

    def __init__(self, driver: S3Driver, path: str, resume: dict | None):
        self._d = driver
        self._s3 = driver.s3
        self._path = path
        self._key = driver._key(path)
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[list] = []
        self._tail: str | None = None  # durable copy of the bytes after the parts
        self._tail_size = 0
        self._tail_loaded = True  # False while the tail's bytes are not yet in _buf
        self._stale: list[str] = []  # tails superseded since the resume point
        self._doomed: list[str] = []  # tails the resumed token superseded
        self._token: dict | None = None  # the current state, if already checkpointed
        self._closed = False
        if resume:
            try:
                self._upload_id = resume["upload_id"]
                self._parts = [[int(n), str(etag), int(size)] for n, etag, size in resume["parts"]]
                self._tail = resume["tail"]
                self._tail_size = int(resume["tail_size"]) if self._tail else 0
                self._doomed = list(resume.get("stale_tails") or ())
                ok = int(resume["size"]) == sum(p[2] for p in self._parts) + self._tail_size
            except (KeyError, TypeError, ValueError):
                ok = False
            if not ok:
                raise InvalidResume(f"{path}: malformed resume token")
            self._tail_loaded = not self._tail
            self._token = dict(resume)

    @property
    def size(self) -> int:
        return sum(p[2] for p in self._parts) + len(self._buf) + (0 if self._tail_loaded else self._tail_size)

    def _load_tail(self) -> None:
        """Read the tail back: unavoidable, as S3 cannot join a < 5 MiB part with new data."""
        if self._tail_loaded:
            return
        try:
            data = self._s3.get_object(Bucket=self._d.bucket, Key=self._tail)["Body"].read()
        except ClientError as e:
            if _code(e) in _NOT_FOUND:
                raise InvalidResume(f"{self._path}: tail {self._tail} is gone") from None
            raise
        if len(data) != self._tail_size:
            raise InvalidResume(f"{self._path}: tail has {len(data)} bytes, expected {self._tail_size}")
        self._d._count_read_back(len(data))
        self._buf = bytearray(data)
        self._tail_loaded = True

    def _supersede_tail(self) -> None:
        if self._tail:
            self._stale.append(self._tail)
        self._tail, self._tail_size = None, 0

    def _upload_part(self, body=None, copy_from: str | None = None) -> None:
        if self._upload_id is None:
            resp = self._s3.create_multipart_upload(Bucket=self._d.bucket, Key=self._key, **self._d.put_args)
            self._upload_id = resp["UploadId"]
        number = self._parts[-1][0] + 1 if self._parts else 1
        if number > MAX_PARTS:
            raise StorageError(f"{self._path}: more than {MAX_PARTS} parts; raise chunksize")
        args = dict(self._upload_args(), PartNumber=number)
        try:
            if copy_from:
                source = {"Bucket": self._d.bucket, "Key": copy_from}
                resp = self._s3.upload_part_copy(**args, CopySource=source)
                etag, size = resp["CopyPartResult"]["ETag"], self._tail_size
            else:
                etag, size = self._s3.upload_part(**args, Body=body)["ETag"], len(body)
        except ClientError as e:
            if _code(e) == "NoSuchUpload" or _code(e) in _NOT_FOUND:
                raise InvalidResume(f"{self._path}: {_code(e)}") from None
            raise
        self._parts.append([number, etag, size])

    def _put(self, key: str, body: bytes) -> None:
        self._s3.put_object(Bucket=self._d.bucket, Key=key, Body=body, **self._d.put_args)

    def _upload_args(self) -> dict:
        return {"Bucket": self._d.bucket, "Key": self._key, "UploadId": self._upload_id}

    def _flush_part(self) -> None:
        body, self._buf = bytes(self._buf), bytearray()
        self._upload_part(body)
        self._supersede_tail()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self._path}: writer is closed")

    def write(self, data: bytes) -> int:
        self._check_open()
        if not data:
            return 0
        self._load_tail()
        self._token = None
        view = memoryview(data).cast("B")
        while view:
            room = self._d.chunksize - len(self._buf)
            self._buf += view[:room]
            view = view[room:]
            if len(self._buf) >= self._d.chunksize:
                self._flush_part()
        return len(data)

    def checkpoint(self) -> dict:
        self._check_open()
        if self._token is None:
            if len(self._buf) >= MIN_PART:
                self._flush_part()
            elif self._buf:
                tail = f"{self._key}.tail.{uuid.uuid4().hex}"
                self._put(tail, bytes(self._buf))
                self._supersede_tail()
                self._tail, self._tail_size = tail, len(self._buf)
            self._token = {
                "upload_id": self._upload_id,
                "parts": [list(p) for p in self._parts],
                "tail": self._tail,
                "tail_size": self._tail_size,
                "size": self.size,
                "stale_tails": list(self._stale),
            }
            if self._doomed:
                self._delete_quietly(self._doomed)
                self._doomed = []
        return dict(self._token)

    def commit(self, path: str | None = None) -> None:
        """Content that never needed a multipart upload (a small one, or only a
        tail) is put or copied straight to its target; otherwise the upload is
        completed and, for another target, copied there server-side."""
        self._check_open()
        bucket = self._d.bucket
        target = self._d._key(path) if path is not None else self._key
        if self._upload_id is None:
            if not self._tail_loaded:
                source = {"Bucket": bucket, "Key": self._tail}
                try:
                    self._s3.copy_object(Bucket=bucket, Key=target, CopySource=source, **self._d.put_args)
                except ClientError as e:
                    if _code(e) in _NOT_FOUND:
                        raise InvalidResume(f"{self._path}: tail {self._tail} is gone") from None
                    raise
            else:
                self._put(target, bytes(self._buf))
        else:
            if not self._tail_loaded:
                self._upload_part(copy_from=self._tail)
            elif self._buf:
                self._flush_part()
            parts = [{"PartNumber": n, "ETag": etag} for n, etag, _ in self._parts]
            try:
                self._s3.complete_multipart_upload(**self._upload_args(), MultipartUpload={"Parts": parts})
            except ClientError as e:
                # InvalidPart: a part's ETag differs, i.e. another writer resumed
                # from the same token overwrote it.  Never complete with its bytes.
                if _code(e) in ("InvalidPart", "NoSuchUpload"):
                    raise InvalidResume(f"{self._path}: {_code(e)}") from None
                raise
            if target != self._key:
                self._d.move(self._path, path)
        self._delete_tails()
        self.close()

    def cancel(self) -> None:
        if self._upload_id:
            try:
                self._s3.abort_multipart_upload(**self._upload_args())
            except ClientError as e:
                if _code(e) != "NoSuchUpload":
                    raise
        self._delete_tails()
        self.close()

    def _delete_tails(self) -> None:
        """The tails this writer knows of (its own, and those its token named),
        by key: no listing.  A racing or crashed writer's leftover tails go with
        the upload directory, which the registry deletes after commit or cancel.
        """
        keys = ([self._tail] if self._tail else []) + self._stale + self._doomed
        if keys:
            self._delete_quietly(keys)

    def _delete_quietly(self, keys: list[str]) -> None:
        try:
            self._d._delete_keys(keys)
        except (ClientError, StorageError):
            pass  # only garbage is left; deleting the upload directory removes it

    def close(self) -> None:
        self._closed = True
        self._buf = bytearray()
