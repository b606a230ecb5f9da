"""heapprof_nb in IPython and Jupyter: the magics (``magics``), notebook cells as frames
(``cells``) and the interactive widget view (``view``). Imported only by ``%load_ext
heapprof_nb`` and ``Profile.view()``, never by ``import heapprof_nb``."""
