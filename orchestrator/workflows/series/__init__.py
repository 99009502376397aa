"""``pgo-orch series``: test a patch series patch by patch (issue 11).

A loop over the one run seam (:mod:`orchestrator.job`): the series is read (:mod:`.inputs`),
applied one patch at a time in a scratch worktree (:mod:`.apply`), every prefix is built
incrementally (:mod:`.builds`), the scenarios run on every prefix as jobs through a runner
(:mod:`.execute`), findings are classified by their stable key (:mod:`.classify`) and written
out (:mod:`.outputs`, :mod:`.html`, :mod:`.kcidb`). :mod:`.workflow` ties them together.
"""
