"""Inputs the tests and the benchmarks share: clip and sound makers, a real face's landmarks,
degradations, reference paths, small fusion bundles, a headless browser.

They live in the package, as ``numpy.testing`` does, so that ``tests/`` and ``benchmarks/``
import them the same way (``from tqscore.testing.degradations import DEGRADATIONS``) with no
``sys.path`` edits: pytest imports the test files from ``tests/`` and a benchmark runs as
``python benchmarks/NAME.py``, and the installed package is the one place both can see. Nothing
here is imported by the scorer itself; the makers need only the pip dependencies (PyAV, OpenCV,
SciPy), never the ffmpeg CLI.

``MEDIA`` is the shared clips' folder of a checkout: ``../shared/media`` beside the repository.
"""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MEDIA = SHARED / "media"
