"""Configuration in Distribution's ``config.yml`` format.

Precedence: the embedded defaults, then the YAML file (from the command line
or ``REGISTRY_CONFIGURATION_PATH``), then ``REGISTRY_*`` environment variables,
where ``REGISTRY_STORAGE_DELETE_ENABLED=true`` sets ``storage.delete.enabled``
and each value is typed as YAML would type it.  ``REGISTRY_STORAGE=s3`` selects
the storage driver, as with Distribution.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any, Mapping

import yaml

DRIVERS = ("filesystem", "s3", "inmemory")
# Sections of ``storage`` that configure the registry, not the driver.
STORAGE_OPTIONS = ("delete", "redirect", "maintenance", "cache")

DEFAULTS: dict[str, Any] = {
    "version": 0.1,
    "log": {"level": "info", "accesslog": {"disabled": False}},
    "storage": {
        "filesystem": {"rootdirectory": "data"},
        "delete": {"enabled": False},
        "redirect": {"disable": False},
        "maintenance": {
            "uploadpurging": {"enabled": True, "age": "168h", "interval": "24h", "dryrun": False},
        },
    },
    "http": {"addr": "127.0.0.1:5000", "secret": "", "host": ""},
}


class ConfigError(ValueError):
    pass


def _merge(base: dict, override: Mapping) -> dict:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _drivers_in(storage: Mapping) -> list[str]:
    return [k for k in storage if k not in STORAGE_OPTIONS]


def _apply_file(config: dict, document: Mapping) -> None:
    storage = document.get("storage")
    if isinstance(storage, Mapping) and _drivers_in(storage):
        # A file naming its own driver replaces the default one.
        for name in _drivers_in(config["storage"]):
            del config["storage"][name]
    _merge(config, document)


def _apply_environment(config: dict, environ: Mapping[str, str]) -> None:
    chosen = environ.get("REGISTRY_STORAGE")
    ignored: tuple[str, ...] = ()
    if chosen:
        kept = {k: v for k, v in config["storage"].items() if k in STORAGE_OPTIONS or k == chosen}
        config["storage"] = kept
        config["storage"].setdefault(chosen, {})
        # Variables for the drivers not chosen are left alone, not merged in.
        ignored = tuple(f"REGISTRY_STORAGE_{d.upper()}_" for d in DRIVERS if d != chosen)
    for name in sorted(environ):
        if not name.startswith("REGISTRY_") or name in ("REGISTRY_STORAGE", "REGISTRY_CONFIGURATION_PATH"):
            continue
        if ignored and name.startswith(ignored):
            continue
        keys = name[len("REGISTRY_"):].lower().split("_")
        value = _typed(environ[name])
        node = config
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[keys[-1]] = value


def _typed(raw: str) -> Any:
    """A variable's value as YAML types the scalars Distribution's keys use.

    Only booleans and plain integers are converted: a secret such as ``0x1f``
    or ``1e3`` must stay the string it is.
    """
    if raw.lower() in ("true", "yes", "on"):
        return True
    if raw.lower() in ("false", "no", "off"):
        return False
    if re.fullmatch(r"-?(?:0|[1-9][0-9]*)", raw):
        return int(raw)
    return raw


def load_config(path: str | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """The effective configuration as a plain dict (see module docstring)."""
    environ = os.environ if environ is None else environ
    config = copy.deepcopy(DEFAULTS)
    path = path or environ.get("REGISTRY_CONFIGURATION_PATH")
    if path:
        try:
            with open(path) as f:
                document = yaml.safe_load(f) or {}
        except OSError as e:
            raise ConfigError(f"cannot read configuration {path}: {e}") from None
        if not isinstance(document, Mapping):
            raise ConfigError(f"{path}: the configuration must be a YAML mapping")
        _apply_file(config, document)
    _apply_environment(config, environ)
    drivers = _drivers_in(config["storage"])
    if len(drivers) != 1:
        raise ConfigError(f"exactly one storage driver must be configured, found {drivers}")
    if drivers[0] not in DRIVERS:
        raise ConfigError(f"unknown storage driver {drivers[0]!r}; supported: {', '.join(DRIVERS)}")
    fs = config["storage"].get("filesystem")
    if fs is not None:
        fs["rootdirectory"] = os.path.abspath(str(fs.get("rootdirectory") or "data"))
    return config


def storage_driver_of(config: Mapping) -> tuple[str, dict]:
    """The configured driver's name and its parameters."""
    (name,) = _drivers_in(config["storage"])
    return name, dict(config["storage"][name] or {})


def parse_duration(text: str | int | float) -> float:
    """Seconds in a Go-style duration such as ``168h``, ``24h``, ``90m``, ``1h30m``."""
    if isinstance(text, (int, float)):
        return float(text) / 1e9 if text > 1e6 else float(text)
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, number, rest = 0.0, "", str(text).strip()
    i = 0
    while i < len(rest):
        c = rest[i]
        if c.isdigit() or c == ".":
            number += c
            i += 1
            continue
        unit = rest[i:i + 2] if rest[i:i + 2] in units else c
        if unit not in units or not number:
            raise ConfigError(f"invalid duration {text!r}")
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    if number:
        raise ConfigError(f"invalid duration {text!r} (missing unit)")
    return total
