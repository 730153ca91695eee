"""Configuration: one YAML file per dataset, validated against ``schema.yaml``.

Defaults live only in the schema; :func:`load_config` fills them in, validates, and
returns a plain nested ``dict``. :func:`config_hash` identifies a resolved config in
every file the project writes.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from asmp.errors import AsmpError

Config = dict[str, Any]


@cache
def schema() -> dict[str, Any]:
    """The configuration JSON schema (parsed ``schema.yaml``)."""
    text = resources.files(__package__).joinpath("schema.yaml").read_text()
    return yaml.safe_load(text)


def _fill_defaults(sch: dict[str, Any], node: Any) -> None:
    """Insert schema defaults into ``node`` in place, recursing into objects."""
    if not isinstance(node, dict):
        return
    for key, sub in sch.get("properties", {}).items():
        if key not in node and "default" in sub:
            node[key] = copy.deepcopy(sub["default"])
        if key in node:
            _fill_defaults(sub, node[key])


def _describe(err: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "additionalProperties":
        known = set(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - known)
        key = ".".join(p for p in (path, extra[0]) if p)
        return f"unknown key '{key}'"
    return f"key '{path or '<root>'}': {err.message}"


def validate_config(cfg: Config, source: str | Path = "<config>") -> Config:
    """Fill defaults into a copy of ``cfg`` and validate it.

    Raises:
        AsmpError: naming the file, the first offending key and the reason.
    """
    cfg = copy.deepcopy(cfg)
    _fill_defaults(schema(), cfg)
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise AsmpError(f"invalid config: {_describe(errors[0])}", source)
    missing = set(cfg["dataset"]["class_map"]) - set(cfg["dataset"]["sound_classes"])
    if missing:
        raise AsmpError(
            f"invalid config: key 'dataset.class_map': {sorted(missing)[0]!r} is not a sound class",
            source,
        )
    return cfg


def load_config(path: str | Path, overrides: Config | None = None) -> Config:
    """Read, merge ``overrides`` into, fill and validate a YAML config file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise AsmpError("config file not found", path) from None
    except yaml.YAMLError as exc:
        raise AsmpError(f"not valid YAML ({exc.__class__.__name__})", path) from None
    if not isinstance(raw, dict):
        raise AsmpError("config must be a YAML mapping", path)
    return validate_config(merge(raw, overrides or {}), path)


def merge(base: Config, override: Config) -> Config:
    """Deep-merge ``override`` into a copy of ``base`` (mappings merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def config_hash(cfg: Config) -> str:
    """SHA-256 of the canonical JSON of a resolved config (16 hex digits)."""
    blob = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
