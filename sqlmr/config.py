"""Settings: the defaults of command-line flags, from a config file and SQLMR_* variables.

Each setting takes the first value found in: the command line, the environment variable
SQLMR_<NAME> (SQLMR_JOB_STORE, …), the selected profile's section `[profiles.NAME]` of the config
file, the config file's top level, and the built-in default. The config file is $SQLMR_CONFIG,
else $XDG_CONFIG_HOME/sqlmr/config.toml, else ~/.config/sqlmr/config.toml:

    executor = "local"            # top level: defaults of every command
    workers = 4

    [profiles.lambda]             # chosen with --config-profile lambda or SQLMR_PROFILE=lambda
    executor = "lambda"
    job_store = "s3://my-bucket/sqlmr-jobs"
    function_name = "sqlmr"
    region = "eu-west-1"

Named config profiles are distinct from AWS credential profiles (the `profile` setting).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmr.defaults import LAMBDA_CONCURRENCY, RETRIES
from sqlmr.errors import SqlmrError


class ConfigError(SqlmrError):
    """A config file or SQLMR_* variable that cannot be used."""


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _count(minimum: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        try:
            whole = isinstance(value, (int, str)) and not isinstance(value, bool)
            number = int(value) if whole else -1
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise ValueError(f"expected a whole number of at least {minimum}")
        return number

    return convert


def _size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    from sqlmr.planning.splits import parse_size

    return parse_size(_text(value))


def _budget(value: Any) -> int:
    size = _size(value)
    if size < 1 << 20:
        raise ValueError("a task needs at least 1MB of memory")
    return size


def _choice(*names: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in names:
            raise ValueError(f"expected one of {', '.join(names)}")
        return value

    return convert


# Every setting: its converter (from a TOML value or an environment string) and its built-in
# default (None: decided later, e.g. from the CPU count or whether stdout is a terminal).
SETTINGS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "tables": (_text, None),
    "catalog": (_text, None),
    "workers": (_count(1), None),
    "split_size": (_size, None),
    "reducers": (_count(1), None),
    "task_memory": (_budget, None),
    "broadcast_threshold": (_size, None),
    "executor": (_choice("local", "lambda"), "local"),
    "function_name": (_text, "sqlmr"),
    "concurrency": (_count(1), LAMBDA_CONCURRENCY),
    "endpoint_url": (_text, None),
    "job_store": (_text, None),
    "retries": (_count(0), RETRIES),
    "task_timeout": (_count(1), None),
    "exchange": (_choice("auto", "direct", "two-level"), "auto"),
    "shuffle_compression": (_choice("auto", "none", "lz4", "zstd"), "auto"),
    "profile": (_text, None),
    "region": (_text, None),
    "format": (_choice("table", "csv", "tsv", "json", "parquet"), None),
}
DEFAULTS = {name: default for name, (_, default) in SETTINGS.items()}
ENV_PREFIX = "SQLMR_"


@dataclass(frozen=True)
class Setting:
    """A setting's effective value and where it came from."""

    name: str
    value: Any
    source: str


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    """Where the config file is (it may not exist)."""
    if env.get("SQLMR_CONFIG"):
        return Path(env["SQLMR_CONFIG"])
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sqlmr" / "config.toml"


def load_config(path: Path) -> dict[str, Any]:
    """The config file as a dict; {} when it does not exist (yet: deploy may write it)."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from e
    return doc


def _convert(name: str, value: Any, where: str) -> Any:
    key = name.replace("-", "_")
    if key not in SETTINGS:
        known = ", ".join(SETTINGS)
        raise ConfigError(f"{where}: unknown setting {name!r}; settings are: {known}")
    try:
        return SETTINGS[key][0](value)
    except (ValueError, SqlmrError) as e:
        raise ConfigError(f"{where}: bad value {value!r} for {name}: {e}") from None


def _section(doc: dict[str, Any], path: Path, profile: str | None) -> dict[str, Setting]:
    found: dict[str, Setting] = {}
    for name, value in doc.items():
        if name != "profiles":
            key = name.replace("-", "_")
            found[key] = Setting(key, _convert(name, value, f"{path}"), f"config {path}")
    profiles = doc.get("profiles", {})
    if profile is None:
        return found
    if not isinstance(profiles, dict) or profile not in profiles:
        names = ", ".join(sorted(profiles)) if isinstance(profiles, dict) else ""
        raise ConfigError(
            f"no profile {profile!r} in config file {path}; profiles: {names or 'none'} "
            f"(add a [profiles.{profile}] section)"
        )
    where = f"{path} [profiles.{profile}]"
    for name, value in profiles[profile].items():
        key = name.replace("-", "_")
        found[key] = Setting(key, _convert(name, value, where), f"config {where}")
    return found


def resolve(
    given: Mapping[str, Any],
    profile: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> dict[str, Setting]:
    """Every setting's effective value: `given` (flags on the command line) over the environment
    over the selected profile over the config file's top level over the built-in defaults."""
    path = config_path(env)
    profile = profile or env.get(ENV_PREFIX + "PROFILE") or None
    doc = load_config(path)
    from_file = _section(doc, path, profile)
    out = {}
    for name, (_, default) in SETTINGS.items():
        variable = ENV_PREFIX + name.upper()
        if given.get(name) is not None:
            out[name] = Setting(name, given[name], f"flag --{name.replace('_', '-')}")
        elif env.get(variable):
            out[name] = Setting(name, _convert(name, env[variable], variable), f"env {variable}")
        elif name in from_file:
            out[name] = from_file[name]
        else:
            out[name] = Setting(name, default, "default")
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def write_profile(path: Path, profile: str, values: Mapping[str, Any]) -> None:
    """Set these values in [profiles.NAME] of the config file, keeping its other settings.

    The file is rewritten from its parsed content (comments are not kept) via a temporary file
    renamed into place, so a failure never leaves half a file.
    """
    doc = load_config(path)
    for key in values:
        _convert(key, values[key], f"{path} [profiles.{profile}]")
    profiles = doc.setdefault("profiles", {})
    profiles[profile] = {**profiles.get(profile, {}), **values}
    lines = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if k != "profiles"]
    for name, section in profiles.items():
        bare = re.fullmatch(r"[A-Za-z0-9_-]+", name)
        lines += ["", f"[profiles.{name if bare else _toml_value(name)}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in section.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines).lstrip("\n") + "\n")
    os.replace(tmp, path)
