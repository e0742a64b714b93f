"""The interactive shell, driven through a pseudo-terminal as a user would: multi-line statements
ended by ';', .mode, .tables, .schema, .timer, completion of keywords, tables and columns with
Tab, history kept across sessions (recalled with the Up arrow), and errors that leave the shell
running. Results are checked against DuckDB; nothing depends on the terminal's width."""

from __future__ import annotations

import csv
import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


class Pty:
    """`sqlmr` on the slave side of a pty; expect() reads until a pattern shows."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.master, slave = pty.openpty()
        exe = str(Path(sys.executable).parent / "sqlmr")
        self.proc = subprocess.Popen(
            [exe, *argv], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        self.seen = b""

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, pattern: str, timeout: float = 60) -> str:
        """Everything read up to and including the first match of pattern (a regex)."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern.encode())
        while True:
            clean = ANSI.sub(b"", self.seen)
            found = regex.search(clean)
            if found:
                self.seen = clean[found.end() :]
                return clean[: found.end()].decode(errors="replace")
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {pattern!r}; got {clean[-2000:]!r}"
            ready, _, _ = select.select([self.master], [], [], min(left, 1))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk or self.proc.poll() is None, f"the shell ended: {clean!r}"
                self.seen += chunk

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            os.close(self.master)
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TERM="xterm",
        INPUTRC=str(tmp_path / "no-inputrc"),
        SQLMR_HISTORY=str(tmp_path / "history"),
        COLUMNS="100",
    )
    return env


def _csv(text: str) -> list[list[str]]:
    """CSV rows of a result, without the summary line the shell prints to the terminal."""
    lines = [line for line in text.strip().splitlines() if "row(s) in" not in line]
    return list(csv.reader(io.StringIO("\n".join(lines))))


def test_shell_session(amplab_dir: str, duck, shell_env: dict[str, str]):
    sh = Pty(["shell", "--tables", amplab_dir, "--workers", "2", "--format", "csv"], shell_env)
    try:
        sh.expect(r"sqlmr> ")
        # A statement over two lines: the continuation prompt, then the result.
        sh.send("SELECT countryCode, COUNT(*) AS n\n")
        sh.expect(r"\.\.\.> ")
        sh.send("FROM uservisits GROUP BY 1 ORDER BY 1 LIMIT 4;\n")
        out = sh.expect(r"sqlmr> ")
        expected = duck.execute(
            "SELECT countryCode, COUNT(*) FROM uservisits GROUP BY 1 ORDER BY 1 LIMIT 4"
        ).fetchall()
        rows = _csv(out[out.index("countryCode,n") : out.rindex("sqlmr> ")])
        assert rows == [["countryCode", "n"], *[[c, str(n)] for c, n in expected]]
        # Dot commands.
        sh.send(".tables\n")
        assert "rankings  uservisits" in sh.expect(r"sqlmr> ")
        sh.send(".schema rankings\n")
        assert "rankings(pageURL VARCHAR, pageRank INTEGER, avgDuration INTEGER)" in sh.expect(
            r"sqlmr> "
        )
        # Completion of a keyword, a column and a table, then the statement runs.
        sh.send("SEL\t MAX(pageR\t) AS m FROM ranki\t;\n")
        out = sh.expect(r"sqlmr> ")
        assert "SELECT MAX(pageRank) AS m FROM rankings;" in out
        top = duck.execute("SELECT MAX(pageRank) FROM rankings").fetchone()[0]
        assert f"m\n{top}\n" in out.replace("\r", "")
        # .timer and .mode json.
        sh.send(".timer on\n")
        sh.expect(r"sqlmr> ")
        sh.send(".mode json\n")
        sh.expect(r"sqlmr> ")
        sh.send("SELECT COUNT(*) AS c FROM uservisits;\n")
        out = sh.expect(r"sqlmr> ")
        count = duck.execute("SELECT COUNT(*) FROM uservisits").fetchone()[0]
        # JSON Lines as DuckDB's COPY writes them: no spaces.
        assert f'{{"c":{count}}}' in out and re.search(r"Run Time: real \d+\.\d+s", out)
        # An error is one line and the shell goes on; a table-mode result shows its cells.
        sh.send("SELECT nosuch FROM rankings;\n")
        out = sh.expect(r"sqlmr> ")
        assert "error: unknown column 'nosuch'" in out and "Traceback" not in out
        sh.send(".mode table\n")
        sh.expect(r"sqlmr> ")
        sh.send("DESCRIBE rankings;\n")
        out = sh.expect(r"sqlmr> ")
        assert "pageRank" in out and "INTEGER" in out
        sh.send(".quit\n")
        assert sh.close() == 0
    finally:
        if sh.proc.poll() is None:
            sh.proc.kill()
    history = Path(shell_env["SQLMR_HISTORY"]).read_text()
    assert "SELECT COUNT(*) AS c FROM uservisits;" in history

    # A new session recalls the last statement with the Up arrow.
    sh = Pty(["shell", "--tables", amplab_dir, "--workers", "2", "--format", "csv"], shell_env)
    try:
        sh.expect(r"sqlmr> ")
        sh.send("\x1b[A\x1b[A\n")  # two entries back, past .quit: DESCRIBE rankings;
        out = sh.expect(r"sqlmr> ")
        assert "column_name,column_type" in out  # DESCRIBE rankings; ran again
        sh.send("\x04")  # Ctrl-D leaves
        assert sh.close() == 0
    finally:
        if sh.proc.poll() is None:
            sh.proc.kill()


def test_sqlmr_alone_on_a_terminal_starts_the_shell(amplab_dir: str, shell_env):
    sh = Pty([], {**shell_env, "SQLMR_TABLES": amplab_dir})
    try:
        sh.expect(r"sqlmr> ")
        sh.send(".quit\n")
        assert sh.close() == 0
    finally:
        if sh.proc.poll() is None:
            sh.proc.kill()


def test_sqlmr_alone_in_a_pipe_is_a_usage_error():
    exe = str(Path(sys.executable).parent / "sqlmr")
    done = subprocess.run(
        [exe], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 2 and "COMMAND" in done.stderr
