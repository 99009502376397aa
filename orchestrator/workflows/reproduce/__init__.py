"""``pgo-orch reproduce``: a bug report mail in, a scenario, runs and a fix check out.

See ``workflow.py`` for the steps and the output layout."""
