"""Running the command line in-process, and the one check of a refusal every test shares."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from c2fbench.cli.main import cli


def run(*args, env: dict | None = None):
    """``c2fbench ARGS...`` through click's CliRunner (paths and numbers as strings). With
    ``COLUMNS`` in ``env`` the run gets consoles of its own: rich fixes a console's width
    from COLUMNS when it is made, so a shared one would keep this width for later tests."""
    from c2fbench import console

    if "COLUMNS" not in (env or {}):
        return CliRunner().invoke(cli, [str(a) for a in args], env=env)
    saved = dict(console._consoles)
    console._consoles.clear()
    try:
        return CliRunner().invoke(cli, [str(a) for a in args], env=env)
    finally:
        console._consoles.clear()
        console._consoles.update(saved)


def assert_refused(result, out_dir: Path | None, *fragments: str) -> None:
    """Exit status 2, exactly one line, starting "error:", holding every fragment, no
    traceback, and ``out_dir`` (when given) absent or empty: nothing written."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    if out_dir is not None:
        assert not out_dir.exists() or not any(out_dir.rglob("*")), sorted(out_dir.rglob("*"))
