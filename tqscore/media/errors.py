"""The media stage's error: a video tqscore cannot turn into a standard clip."""

from __future__ import annotations

import os

from tqscore.errors import TqscoreError


class MediaError(TqscoreError):
    """A file that is empty, unreadable, truncated, corrupt or not a video.

    ``path`` names the file and ``cause`` says what is wrong with it, so a batch run can record
    one line per bad file and go on with the others.
    """

    def __init__(self, path: str | os.PathLike, cause: str):
        self.cause = cause
        super().__init__(cause, path)

    def __reduce__(self):  # keeps the two fields when the error crosses a process boundary
        return (type(self), (self.path, self.cause))
