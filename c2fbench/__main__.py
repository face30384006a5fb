"""``python -m c2fbench``: the ``c2fbench`` command (c2fbench/cli/main.py)."""

from c2fbench.cli.main import main

main()
