"""The series workflow's view of the run seam: ``Job``, ``Runner`` and the default runner.

Re-exported from :mod:`orchestrator.job`, so the series' tests can swap the default runner
(``seam.run_serial``) for a fake one without touching the seam itself.
"""

from __future__ import annotations

from orchestrator.job import Job, Runner, run_serial

__all__ = ["Job", "Runner", "run_serial"]
