"""The frames of a small program, shared by the renderer tests (flame graph, pprof)."""

from __future__ import annotations

from heapprof_nb.digest.model import Frame

MOD = Frame("/app/main.py", "<module>", 1)
LOAD = Frame("/app/main.py", "load", 10)
READ = Frame("/usr/lib/python3.11/site-packages/pandas/io.py", "read_csv", 200)
PARSE = Frame("/app/main.py", "parse", 20)
REC = Frame("/app/main.py", "rec", 30)
CELL = Frame("<ipython-input-3-abc>", "<module>", 2, cell="In [3]", source="df = load('x.csv')")
