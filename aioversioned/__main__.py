"""``python -m aioversioned``: the command line."""

from .cli import main

main()
