"""Many guest runs at once: a local VM pool and the Dask engine, both behind one ``Runner``.

- ``host``: what this host has (CPUs, memory) and what one guest costs (vCPUs, memory,
  TCG translation cache); the default number of slots.
- ``slots``: slots leased with file locks under ``<cache>/pool/``, shared by every pgo-orch
  process on the host; a guest starts only while its vCPUs and memory fit.
- ``pressure``: CPU pressure sampled while guests run (was the host starved?).
- ``annotate``: the ``pool`` part of a result; lockup/stall findings of overcommitted or
  starved runs are marked as such.
- ``progress``: one line per guest (or a live table on a terminal).
- ``prebuild``: the kernels a batch needs, built once each before guests start.
- ``local``: the local pool Runner; ``dask_engine``: the Dask Runner; ``engine``:
  ``runner_for(engine, slots, scheduler, overcommit)``.
"""
