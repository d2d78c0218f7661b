"""tqscore: batch quality scoring of AI-generated talking-face videos.

The package folders follow the data: ``media`` (decoding to the standard clip) ->
``features`` and ``signals`` (per-frame streams and training-free facts) -> ``model``
(fusion model, preprocessing, bundle) -> ``training`` / ``export`` / ``runtime``.
"""

__version__ = "0.1.0"
