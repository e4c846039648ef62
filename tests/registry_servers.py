"""Starting our registry for tests on each storage driver (used by conftest and tests)."""

from __future__ import annotations

import uuid

import boto3

from procs import RegistryServer


def s3_env(endpoint: str, bucket: str, **extra: str) -> dict:
    """REGISTRY_* variables for the S3 driver on a moto_server, creating the bucket."""
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket=bucket)
    env = {
        "REGISTRY_STORAGE": "s3",
        "REGISTRY_STORAGE_S3_BUCKET": bucket,
        "REGISTRY_STORAGE_S3_REGION": "us-east-1",
        "REGISTRY_STORAGE_S3_REGIONENDPOINT": endpoint,
        "REGISTRY_STORAGE_S3_FORCEPATHSTYLE": "true",
        "REGISTRY_STORAGE_S3_ACCESSKEY": "test",
        "REGISTRY_STORAGE_S3_SECRETKEY": "test",
        "REGISTRY_STORAGE_S3_CHUNKSIZE": str(5 * 1024 * 1024),
    }
    env.update(extra)
    return env


def start_registry(driver: str, tmp_path_factory, request, extra_env=None, workers=2) -> RegistryServer:
    tmp = tmp_path_factory.mktemp(f"registry-{driver}")
    env = {"REGISTRY_LOG_ACCESSLOG_DISABLED": "true"}
    if driver == "inmemory":
        env["REGISTRY_STORAGE"] = "inmemory"
        workers = 1  # its content lives in one process
    elif driver == "s3":
        moto = request.getfixturevalue("moto_server")
        env.update(s3_env(moto.endpoint, f"api-{uuid.uuid4().hex[:8]}", REGISTRY_STORAGE_REDIRECT_DISABLE="true"))
    env.update(extra_env or {})
    return RegistryServer(tmp / "root", tmp / "run", env=env, workers=workers).start()
