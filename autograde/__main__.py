"""python -m autograde: the instructor's command line (see autograde.grading.cli)."""
import sys

from autograde.grading.cli import main

if __name__ == "__main__":  # also keeps worker processes from re-running the command
    sys.exit(main())
