"""``python -m headstart``: the command line, as the ``headstart`` script runs it."""

from .cli import main

main()
