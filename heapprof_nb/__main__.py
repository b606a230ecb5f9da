"""``python -m heapprof_nb``: the command line lives in :mod:`heapprof_nb.cli`."""

from __future__ import annotations

import sys

from heapprof_nb.cli import main

if __name__ == "__main__":
    sys.exit(main())
