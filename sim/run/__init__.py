"""Running replications: one loop over any executor (`runner`), the executors themselves
(in-process, a local process pool, Dask: `executors`), where finished replications go
(`writer`: the output folder, or memory) and what a run returns (`results`)."""
