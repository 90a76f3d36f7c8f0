"""python -m autograde: the instructor's command line (see autograde.cli)."""
import sys

from .cli import main

if __name__ == "__main__":  # also keeps worker processes (spawned) from re-running the command
    sys.exit(main())
