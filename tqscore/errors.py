"""The package's error tree: what a user did wrong or a machine cannot do, as opposed to a bug.

Every error tqscore raises on purpose is a :class:`TqscoreError`, through the subclass of the
stage it comes from (``MediaError`` lives in :mod:`tqscore.media` and subclasses it too). The
console script maps the whole tree to one line on stderr and exit code 2 in one place
(:func:`tqscore.cli.main`); anything else that escapes is a bug and keeps its traceback.
A message names the file (``path``) and says what is wrong with it, so a user can act on it.
"""

from __future__ import annotations

import os


class TqscoreError(Exception):
    """A problem with the user's input or machine, told in one line: ``"<path>: <message>"``."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        super().__init__(message if self.path is None else f"{self.path}: {message}")

    def __reduce__(self):  # keeps both fields when the error crosses a process boundary
        return (type(self), (self.message, self.path))


class FeatureError(TqscoreError):
    """Feature records, backbones or the feature layout (tqscore.features, tqscore.layout)."""


class SignalError(TqscoreError):
    """Training-free signals and their models (tqscore.signals)."""


class ModelError(TqscoreError):
    """Model bundles and their preprocessing (tqscore.model)."""


class TrainingError(TqscoreError):
    """Labels, splits, checkpoints and training runs (tqscore.training)."""


class ExportError(TqscoreError):
    """ONNX graphs, TensorRT engines and engine-folder manifests (tqscore.export)."""


class RunError(TqscoreError):
    """Batch scoring runs: engines, workers, the output store (tqscore.runtime)."""


class ReportError(TqscoreError):
    """Reports on scored runs (tqscore.report)."""


class ConfigError(TqscoreError):
    """A YAML file or option a user wrote that does not parse or has a bad field (tqscore.config)."""
