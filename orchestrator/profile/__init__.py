"""pgo-orch profile package."""
