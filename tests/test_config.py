"""Defaults in one place: the config file, its named profiles and SQLMR_* variables set query
flags' defaults in that order of precedence below the command line; `config show` says where
each setting came from; a bad file or value is one line naming the file and the key."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from sqlmr.cli import main
from sqlmr.config import resolve, write_profile


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("SQLMR_CONFIG", str(path))
    return path


def _show(capsys, *argv: str) -> dict[str, tuple[str, str]]:
    rc, out, err = _cli(capsys, "config", "show", *argv)
    assert rc == 0, err
    rows = {}
    for line in out.splitlines()[1:]:
        name, value, source = line.split(None, 2)
        rows[name] = (value, source)
    return rows


def test_precedence_flag_env_profile_file_default(config, monkeypatch, capsys):
    config.write_text(
        'workers = 3\nsplit_size = "1MB"\nexecutor = "local"\n\n'
        '[profiles.lambda]\nexecutor = "lambda"\njob_store = "s3://b/jobs"\nworkers = 5\n'
    )
    shown = _show(capsys)
    assert shown["workers"] == ("3", f"config {config}")
    assert shown["split_size"] == (str(1 << 20), f"config {config}")
    assert shown["retries"] == ("2", "default")
    assert shown["exchange"] == ("auto", "default") and shown["task_timeout"][0] == "(unset)"
    shown = _show(capsys, "--config-profile", "lambda")
    assert shown["executor"] == ("lambda", f"config {config} [profiles.lambda]")
    assert shown["workers"][0] == "5"
    monkeypatch.setenv("SQLMR_WORKERS", "7")
    monkeypatch.setenv("SQLMR_PROFILE", "lambda")
    shown = _show(capsys)
    assert shown["workers"] == ("7", "env SQLMR_WORKERS")
    assert shown["job_store"][0] == "s3://b/jobs"
    settings = resolve({"workers": 9})
    assert (settings["workers"].value, settings["workers"].source) == (9, "flag --workers")


def test_config_sets_query_defaults(config, amplab_dir, duck, capsys):
    config.write_text(f'tables = "{amplab_dir}"\nformat = "json"\nworkers = 2\n')
    rc, out, err = _cli(capsys, "query", "SELECT COUNT(*) AS n FROM rankings")
    assert rc == 0, err
    assert out.strip() == f'{{"n":{duck.execute("SELECT COUNT(*) FROM rankings").fetchone()[0]}}}'
    # A flag still wins over the file.
    rc, out, err = _cli(capsys, "query", "SELECT COUNT(*) AS n FROM rankings", "--format", "csv")
    assert rc == 0 and list(csv.reader(io.StringIO(out)))[0] == ["n"]


@pytest.mark.parametrize(
    "text, words",
    [
        ("workers = 0\n", ["workers", "at least 1"]),
        ("nosuch = 1\n", ["unknown setting 'nosuch'"]),
        ('executor = "cloud"\n', ["executor", "local, lambda"]),
        ("workers = [\n", ["not valid TOML"]),
        ('workers = "abc"\n', ["workers", "expected a whole number of at least 1"]),
        ('task_memory = "1KB"\n', ["task_memory", "at least 1MB of memory"]),
    ],
)
def test_bad_config_is_one_line(config, capsys, text, words):
    config.write_text(text)
    rc, out, err = _cli(capsys, "config", "show")
    assert rc == 1 and out == ""
    assert err.startswith("error: ") and str(config) in err and len(err.strip().splitlines()) == 1
    assert all(w in err for w in words), err


def test_unknown_profile_and_missing_file(config, capsys):
    rc, out, _ = _cli(capsys, "config", "show")
    assert rc == 0 and f"{config} (does not exist)" in out
    config.write_text("[profiles.a]\nworkers = 1\n")
    rc, _, err = _cli(capsys, "config", "show", "--config-profile", "b")
    assert rc == 1 and "no profile 'b'" in err and "profiles: a" in err


def test_write_profile_keeps_other_settings(config):
    config.write_text('workers = 2\n\n[profiles.other]\nregion = "eu-west-1"\n')
    write_profile(config, "lambda", {"executor": "lambda", "job_store": "s3://b/j"})
    write_profile(config, "lambda", {"function_name": "f"})
    settings = resolve({}, "lambda")
    assert settings["executor"].value == "lambda" and settings["function_name"].value == "f"
    assert settings["job_store"].value == "s3://b/j" and settings["workers"].value == 2
    assert resolve({}, "other")["region"].value == "eu-west-1"


class _Report:
    region = "eu-west-1"
    role_arn = "arn:aws:iam::123456789012:role/sqlmr-role"
    function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:sqlmr"

    def summary(self) -> str:
        return "function sqlmr: created"


def test_deploy_saves_what_it_created_as_a_profile(config, monkeypatch, capsys):
    """deploy (its AWS work is tested in test_deploy) writes the function, job store and region
    it deployed into [profiles.NAME], and queries then need no Lambda flags."""
    import sqlmr.aws

    calls = []
    monkeypatch.setattr(sqlmr.aws, "deploy", lambda **kw: calls.append(kw) or _Report())
    argv = ["deploy", "--job-store", "s3://b/jobs", "--save-profile", "lam", "--region", "x-1"]
    rc, out, err = _cli(capsys, *argv)
    assert rc == 0, err
    assert calls[0]["job_store"] == "s3://b/jobs" and calls[0]["function_name"] == "sqlmr"
    assert f"saved profile lam in {config}" in out
    shown = _show(capsys, "--config-profile", "lam")
    assert shown["executor"][0] == "lambda" and shown["job_store"][0] == "s3://b/jobs"
    assert shown["function_name"][0] == "sqlmr" and shown["region"][0] == "eu-west-1"
    # Without --save-profile and without a terminal, nothing is written or asked.
    config.unlink()
    rc, out, err = _cli(capsys, "deploy", "--job-store", "s3://b/jobs")
    assert rc == 0 and not config.exists() and "saved profile" not in out


def test_every_query_option_with_a_value_is_a_setting():
    import argparse

    from sqlmr.cli.app import build_parser
    from sqlmr.config import SETTINGS

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    per_run = {"sql", "file", "output", "trace", "trace_format", "config_profile", "help"}
    for action in sub.choices["query"]._actions:
        takes_value = action.nargs != 0 and action.option_strings
        if takes_value and action.dest not in per_run:
            assert action.dest in SETTINGS, f"--{action.dest} has no config setting"
