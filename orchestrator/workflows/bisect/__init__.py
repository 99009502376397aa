"""``pgo-orch bisect`` and ``bisect-step``: find the commit that introduced (or fixed) a bug.

A loop over the one run seam (:func:`orchestrator.job.run_job` through a ``Runner``):

* :mod:`.decide`   target, run classification, runs needed for a good verdict (pure)
* :mod:`.probe`    one commit's runs until a verdict
* :mod:`.scratch`  git's bisect machinery in a scratch worktree (the user's checkout untouched)
* :mod:`.record`   the bisection directory (state.json, steps.jsonl, bisect.log)
* :mod:`.session`  both ends, the steps, the culprit's checks, resume
* :mod:`.report`   result.json and result.txt
* :mod:`.step`     one ``git bisect run`` step mapped to git's exit codes
"""
