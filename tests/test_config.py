"""Configuration: Distribution's config.yml keys, overridden by REGISTRY_* variables."""

import pytest

from registry_app.config import ConfigError, load_config, parse_duration, storage_driver_of


def test_embedded_defaults(tmp_path, monkeypatch):
    """Issue: with no configuration, filesystem storage under ./data on 127.0.0.1:5000."""
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert storage_driver_of(config) == ("filesystem", {"rootdirectory": str(tmp_path / "data")})
    assert config["http"]["addr"] == "127.0.0.1:5000"
    assert config["storage"]["delete"]["enabled"] is False
    assert config["log"]["accesslog"]["disabled"] is False


def test_environment_overrides_file(tmp_path):
    """Precedence: defaults, then the file, then REGISTRY_* variables typed like YAML."""
    path = tmp_path / "config.yml"
    path.write_text(
        "version: 0.1\n"
        "http: {addr: 0.0.0.0:6000, secret: fromfile, host: https://r.example}\n"
        "storage: {filesystem: {rootdirectory: /srv/a}, delete: {enabled: false}}\n"
        "log: {level: debug}\n"
    )
    config = load_config(str(path), environ={
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        "REGISTRY_HTTP_ADDR": "127.0.0.1:7000",
        "REGISTRY_LOG_ACCESSLOG_DISABLED": "true",
    })
    assert config["storage"]["delete"]["enabled"] is True
    assert config["http"] == {"addr": "127.0.0.1:7000", "secret": "fromfile", "host": "https://r.example"}
    assert config["log"] == {"level": "debug", "accesslog": {"disabled": True}}
    assert storage_driver_of(config) == ("filesystem", {"rootdirectory": "/srv/a"})


def test_configuration_path_from_environment(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("http: {addr: 127.0.0.1:5123}\n")
    assert load_config(environ={"REGISTRY_CONFIGURATION_PATH": str(path)})["http"]["addr"] == "127.0.0.1:5123"


def test_registry_storage_selects_s3_without_a_file():
    """Issue 3: REGISTRY_STORAGE=s3 plus REGISTRY_STORAGE_S3_* selects the S3 driver, no file needed."""
    config = load_config(environ={
        "REGISTRY_STORAGE": "s3",
        "REGISTRY_STORAGE_S3_BUCKET": "images",
        "REGISTRY_STORAGE_S3_CHUNKSIZE": "10485760",
        "REGISTRY_STORAGE_S3_FORCEPATHSTYLE": "true",
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/ignored/when/s3/is/chosen",
    })
    assert storage_driver_of(config) == ("s3", {"bucket": "images", "chunksize": 10485760, "forcepathstyle": True})
    assert config["storage"]["delete"]["enabled"] is True


def test_secrets_keep_their_text():
    """A secret that YAML would read as a number stays the exact string."""
    for secret in ("0x1f", "1e3", "0123", "  spaced"):
        assert load_config(environ={"REGISTRY_HTTP_SECRET": secret})["http"]["secret"] == secret


def test_file_driver_replaces_default(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("storage: {inmemory: {}}\n")
    assert storage_driver_of(load_config(str(path), environ={}))[0] == "inmemory"


@pytest.mark.parametrize("document", ["storage: {filesystem: {}, s3: {bucket: b}}\n", "storage: {azure: {}}\n", "- a\n"])
def test_invalid_configuration(tmp_path, document):
    path = tmp_path / "c.yml"
    path.write_text(document)
    with pytest.raises(ConfigError):
        load_config(str(path), environ={})


def test_durations():
    assert parse_duration("168h") == 168 * 3600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("500ms") == 0.5
    with pytest.raises(ConfigError):
        parse_duration("10")
