"""Kernel splat detection on console output (see ``detector.py`` and ``title.py``)."""

from orchestrator.detect.allowlist import Allowlist, AllowlistEntry, classify
from orchestrator.detect.catalogue import (
    Catalogue,
    CatalogueError,
    ReportClass,
    default_catalogue,
    load_catalogue,
)
from orchestrator.detect.detector import Detector, Finding, dedup, detect_text
from orchestrator.detect.frames import Frame

__all__ = [
    "Allowlist",
    "AllowlistEntry",
    "Catalogue",
    "CatalogueError",
    "Detector",
    "Finding",
    "Frame",
    "ReportClass",
    "classify",
    "dedup",
    "default_catalogue",
    "detect_text",
    "load_catalogue",
]
