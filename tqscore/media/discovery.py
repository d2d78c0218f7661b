"""Find the videos under a directory and split them across machines.

Discovery walks with ``os.scandir`` and follows directory symlinks (a mounted dataset is often
a tree of links), remembering each directory's (device, inode) so a link loop or a second link
to the same directory is entered once, through the first path in name order. Files are returned in sorted relative-path order, so two
runs over the same tree see the same list.

File names are bytes on POSIX; Python hands a name that is not UTF-8 over as a ``str`` with
surrogate escapes (PEP 383). Such a ``str`` opens the file but cannot be written as UTF-8 text
(Parquet strings, JSON): :func:`path_bytes` gives the lossless bytes a row keys on and
:func:`display_path` the printable form (undecodable bytes as ``\\xff``) a person reads.

Files whose extension is not a video one are left out, and counted by extension
(``Scan.left_out``), so a run can say what it did not look at: a folder of unusual containers
is never a silent zero. The default extensions are the containers FFmpeg reads that people keep
video in; ``--ext`` replaces them.

Sharding hashes the relative path (BLAKE2b, stable across Python versions and processes, unlike
``hash()``): a file's shard depends on its own path only, so adding files to the directory never
moves the files that were already there to another shard.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqscore.errors import ConfigError
from tqscore.media.errors import MediaError

log = logging.getLogger(__name__)

# MP4/QuickTime, Matroska/WebM, AVI, MPEG program and transport streams (.mpg/.mpeg: the GRID
# corpus's MPEG-1; .ts/.mts/.m2ts: broadcast and AVCHD camcorders), Flash video, Windows Media,
# 3GPP (phones) and Ogg Theora: every one of them a demuxer of FFmpeg, which decodes for us.
DEFAULT_EXTENSIONS: tuple[str, ...] = (
    ".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v",
    ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".3gp", ".ogv",
)
NO_EXTENSION = "(none)"  # the key of ``Scan.left_out`` for file names without an extension


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``0 <= index < count``)."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Parse ``"i/n"``; raise ``ValueError`` with the accepted form on anything else."""
        try:
            index_text, count_text = text.split("/")
            index, count = int(index_text), int(count_text)
        except ValueError:
            raise ValueError(f"shard must look like i/n (e.g. 0/4), got {text!r}") from None
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"shard {text!r} is out of range: need 0 <= i < n and n >= 1")
        return cls(index, count)

    def owns(self, rel_path: str) -> bool:
        return shard_of(rel_path, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(rel_path: str, count: int) -> int:
    digest = hashlib.blake2b(path_bytes(rel_path), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def path_bytes(path: str) -> bytes:
    """The file name as the file system holds it (the inverse of Python's surrogate escapes)."""
    return path.encode("utf-8", "surrogateescape")


def display_path(text: str) -> str:
    """``text`` with every byte that is not UTF-8 written as ``\\xNN``: always encodable, never empty."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file name decoded into: keep it visible, escaped
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def normalize_extensions(extensions: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``["MP4", ".mov"]`` -> ``(".mp4", ".mov")``: matching is case-insensitive."""
    out = []
    for ext in extensions:
        ext = ext.strip().lower()
        if ext:
            out.append(ext if ext.startswith(".") else "." + ext)
    if not out:
        raise ConfigError("no video extensions given")
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class Scan:
    files: list[str]  # relative POSIX paths of the video files, sorted
    # (relative folder path ending in "/", cause) for each folder that could not be read: the
    # files in it are unknown, so a run must say so rather than report the folder as empty.
    unreadable: list[tuple[str, str]]
    # Files left out because of their extension: how many of each (lower case, with its dot).
    left_out: Counter = field(default_factory=Counter)


def left_out_text(left_out: Counter, most: int = 5) -> str:
    """``"3 files (.txt 2, .png 1)"``: how many files were left out, with the ``most`` commonest extensions."""
    n = sum(left_out.values())
    ranked = sorted(left_out.items(), key=lambda item: (-item[1], item[0]))[:most]  # ties by name: stable text
    common = ", ".join(f"{ext} {count}" for ext, count in ranked)
    more = ", ..." if len(left_out) > most else ""
    return f"{n} file{'s' if n != 1 else ''} ({common}{more})"


def extension_of(name: str) -> str:
    """The extension a file is left out by: lower case with its dot, or ``NO_EXTENSION``."""
    return os.path.splitext(name)[1].lower() or NO_EXTENSION


def discover(root: Path, extensions: tuple[str, ...] = DEFAULT_EXTENSIONS, shard: Shard = Shard()) -> list[str]:
    """Relative POSIX paths of the video files under ``root`` owned by ``shard``, sorted.

    Raises MediaError naming ``root`` when it is missing or not a folder; unreadable
    subdirectories are logged as warnings and skipped (:func:`scan` reports them).
    """
    return scan(root, extensions, shard).files


def scan(root: Path, extensions: tuple[str, ...] = DEFAULT_EXTENSIONS, shard: Shard = Shard()) -> Scan:
    """:func:`discover`, plus the folders that could not be read and the files left out by their
    extension (those ``shard`` owns)."""
    root = Path(root)
    if not root.exists():
        raise MediaError(root, "input directory does not exist")
    if not root.is_dir():
        raise MediaError(root, "input is not a directory")
    walk = _Walk(root, normalize_extensions(extensions), shard)
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        entries = walk.entries(directory, prefix)
        # Depth-first in name order, so when two links reach one directory the same one wins every run.
        stack.extend(reversed(walk.visit(entries, prefix)))
    return Scan(
        files=sorted(rel for rel in walk.found if shard.owns(rel)),
        unreadable=sorted((rel, cause) for rel, cause in walk.unreadable if shard.owns(rel)),
        left_out=walk.left_out,
    )


class _Walk:
    """What :func:`scan` has found so far, and how it reads one folder."""

    def __init__(self, root: Path, extensions: tuple[str, ...], shard: Shard):
        self.root, self.extensions, self.shard = root, extensions, shard
        self.found: list[str] = []
        self.unreadable: list[tuple[str, str]] = []
        self.left_out: Counter = Counter()
        self.seen_dirs: set[tuple[int, int]] = set()

    def entries(self, directory: Path, prefix: str) -> list[os.DirEntry]:
        """The folder's entries in name order; none for a folder already visited or unreadable."""
        try:
            info = directory.stat()
            key = (info.st_dev, info.st_ino)
            if key in self.seen_dirs:
                log.info("skipping %s: directory already visited (symlink loop or duplicate link)", directory)
                return []
            self.seen_dirs.add(key)
            with os.scandir(directory) as listing:
                return sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if not prefix:
                raise MediaError(self.root, f"cannot read the input folder: {_cause(exc)}") from None
            log.warning("cannot read folder %s: %s", display_path(str(directory)), exc.strerror or exc)
            self.unreadable.append((prefix, _cause(exc)))
            return []

    def visit(self, entries: list[os.DirEntry], prefix: str) -> list[tuple[Path, str]]:
        """Sort the entries into videos, files left out and subfolders (returned, to walk next)."""
        subdirs = []
        for entry in entries:
            rel = prefix + entry.name
            is_video = entry.name.lower().endswith(self.extensions)
            try:
                mode = os.stat(entry.path).st_mode  # follows links; a dangling link raises
            except OSError:
                if is_video:
                    self.found.append(rel)  # dangling link named like a video: it gets an error row
                continue
            if stat.S_ISDIR(mode):
                subdirs.append((Path(entry.path), rel + "/"))
            elif stat.S_ISREG(mode) and is_video:
                self.found.append(rel)
            elif stat.S_ISREG(mode) and self.shard.owns(rel):
                self.left_out[extension_of(entry.name)] += 1
        return subdirs


def _cause(exc: OSError) -> str:
    return "permission denied" if isinstance(exc, PermissionError) else str(exc.strerror or exc)
