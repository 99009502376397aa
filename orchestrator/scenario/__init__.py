"""Scenario files: schema, loader with precise errors, and the runner."""
