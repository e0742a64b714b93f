"""The `sqlmr config show` command: the effective settings and where each came from."""

from __future__ import annotations

import argparse

from sqlmr.config import SETTINGS, config_path, resolve


def add_commands(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]):
    """Register `config show`."""
    c = sub.add_parser(
        "config",
        help="show the effective settings",
        description="Settings give query flags their defaults. Each comes from, in order: the "
        "command line, an SQLMR_<NAME> environment variable, the selected [profiles.NAME] of "
        "the config file ($SQLMR_CONFIG or ~/.config/sqlmr/config.toml), its top level, or the "
        "built-in default.",
    )
    actions = c.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = actions.add_parser(
        "show",
        help="print every setting, its value and its source",
        description="Print every setting, its effective value and where it came from.",
        parents=[parents["common"]],
    )
    s.set_defaults(handler=_show, raw_settings=True)


def _show(args: argparse.Namespace) -> int:
    resolved = resolve({}, args.config_profile)
    path = config_path()
    print(f"# config file: {path}{'' if path.exists() else ' (does not exist)'}")
    width = max(len(name) for name in SETTINGS)
    for name, setting in resolved.items():
        value = "(unset)" if setting.value is None else str(setting.value)
        print(f"{name:<{width}}  {value:<30}  {setting.source}")
    return 0
