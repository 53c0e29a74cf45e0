"""``python -m taskfair <command>``: the command line of :mod:`taskfair.cli`."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
