"""What a snapshot looks like: the frame policy every view shares (``frames``), the flame graph,
the flow graph, the top-sites table, the time plot and the exports (collapsed, speedscope,
pprof). Each imports its heavy library (matplotlib, graphviz) only when it draws."""
