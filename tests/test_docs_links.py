"""The README and docs/ hold together: every relative link resolves to a file, and every
command of the README's "Common tasks" sheet uses only options its subcommand's --help lists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from c2fbench.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHEET = "## Common tasks"

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")


def relative_links(page: Path) -> list[str]:
    """Targets of the page's inline Markdown links that point into the repository (code
    blocks and code spans are not links; web, mail and same-page anchor links are left out)."""
    text = CODE_SPAN.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


LINKS = [(page, target) for page in PAGES for target in relative_links(page)]


def test_pages_have_links():
    assert any(page.name == "README.md" for page, _ in LINKS)
    assert len(LINKS) >= 20, LINKS


@pytest.mark.parametrize("page,target", LINKS, ids=[f"{p.relative_to(ROOT)}->{t}" for p, t in LINKS])
def test_relative_link_resolves(page, target):
    path = target.split("#", 1)[0]
    assert (page.parent / path).exists(), f"{page.relative_to(ROOT)}: {target} does not exist"


def sheet_commands() -> list[str]:
    """Each `c2fbench ...` line in the fenced blocks of the README's "Common tasks" section,
    continuation lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SHEET + "\n")
    end = text.find("\n## ", start + len(SHEET))
    section = text[start:end if end != -1 else len(text)]
    commands = []
    for block in FENCE.findall(section):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip().startswith("c2fbench ")]
    return commands


COMMANDS = sheet_commands()


def test_sheet_has_the_common_tasks():
    joined = "\n".join(COMMANDS)
    for needle in ["eval voc-val", "--cams", "--uncertain", "--arch", "--format latex", "submit voc-test",
                   "deploy profile"]:
        assert needle in joined, needle


def command_and_options(line: str) -> tuple[list[str], list[str]]:
    """The subcommand path (e.g. ["deploy", "profile"]) and the long options a sheet line uses."""
    tokens = shlex.split(line, comments=True)[1:]
    path, command = [], cli
    while isinstance(command, click.Group) and tokens:
        with click.Context(command) as ctx:  # the groups load their subcommands on demand
            sub = command.get_command(ctx, tokens[0])
        if sub is None:
            break
        command = sub
        path.append(tokens.pop(0))
    options = [t.split("=", 1)[0] for t in tokens if t.startswith("--")]
    return path, options


@pytest.mark.parametrize("line", COMMANDS)
def test_sheet_command_options_exist(line):
    path, options = command_and_options(line)
    assert path, f"not a c2fbench command: {line}"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    missing = [o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", result.output)]
    assert not missing, f"`c2fbench {' '.join(path)} --help` lists no {', '.join(missing)}"
