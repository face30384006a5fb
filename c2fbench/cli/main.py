"""The ``c2fbench`` command: a click group whose subcommands load on demand.

Subcommand modules import their heavy dependencies inside the command body, so
``c2fbench --help`` is instant. Bad input (:class:`~c2fbench.errors.InputError`) becomes
one line on stderr and exit status 2, as does a subcommand's usage error (a bad or missing
option); ``--debug`` shows the traceback, or click's usage text, instead.
"""

from __future__ import annotations

import errno
import importlib
import sys

import click

from c2fbench import __version__
from c2fbench.threads import is_latency_command, passive_waiting

# before any subcommand imports torch, whose OpenMP reads the policy once (c2fbench/threads.py);
# `deploy profile` times what a deployed model gets, OpenMP's own bounded spinning
passive_waiting(latency=is_latency_command(sys.argv[1:]))

# name -> "module:attribute" of the click command; the module loads only when used.
COMMANDS = {
    "compare": "c2fbench.cli.compare:compare",
    "data": "c2fbench.cli.data:data",
    "eval": "c2fbench.cli.eval:eval_command",
    "list": "c2fbench.cli.list:list_command",
    "demo": "c2fbench.cli.demo:demo",
    "deploy": "c2fbench.cli.deploy:deploy",
    "masks": "c2fbench.cli.masks:masks",
    "predict": "c2fbench.cli.predict:predict",
    "report": "c2fbench.cli.report:report",
    "submit": "c2fbench.cli.submit:submit",
    "train": "c2fbench.cli.train:train",
}


# errno values of a path the system refuses, whichever command met it first
_PATH_ERRORS = {errno.ENAMETOOLONG, errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR,
                errno.EROFS, errno.ENOSPC, errno.EDQUOT}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx):
        from c2fbench.errors import InputError

        try:
            return super().invoke(ctx)
        except InputError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from c2fbench.console import error

            error(str(e))
            ctx.exit(2)
        except OSError as e:  # a path the system refuses (too long, a loop, forbidden) is bad input too
            if e.errno not in _PATH_ERRORS or e.filename is None or (ctx.obj or {}).get("debug"):
                raise
            from c2fbench.console import error

            error(f"{str(e.filename)[:200]}{'...' if len(str(e.filename)) > 200 else ''}: {e.strerror}")
            ctx.exit(2)
        except click.UsageError as e:  # a bad option of a subcommand: one line too, not click's three
            if isinstance(e, getattr(click.exceptions, "NoArgsIsHelpError", ())) or (ctx.obj or {}).get("debug"):
                raise
            from c2fbench.console import error

            error(e.format_message() + (f" (see '{e.ctx.command_path} --help')" if e.ctx else ""))
            ctx.exit(2)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="c2fbench")
@click.option("--debug", is_flag=True, help="Show tracebacks for input errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Coarse-to-fine weakly supervised segmentation: train, evaluate, deploy, report."""
    ctx.obj = {"debug": debug}


def main() -> None:
    cli(prog_name="c2fbench")


if __name__ == "__main__":
    main()
