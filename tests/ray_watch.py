"""Watches which Ray worker processes hold some files open, and kills them, from a process of its own.

Run by test_runtime_ray.py beside a Ray run. It is a separate process, not a thread of the test,
because the test's process is the run's driver: a watcher thread contends for its GIL, and each
of a /proc scan's thousand small reads can then wait out a 5-ms switch interval, so a scan outlasts
the 0.4 s a worker holds a 2-s clip open (a threaded poller missed every open on the 2-core CI
machine). inotify wakes it on every open of a watched file, so no poll falls between an open
and the scan that finds its reader.

Usage: ``python ray_watch.py ANCESTOR_PID [FILE...] [--kill N] [--and-actor] [--tasks TITLE]``.
Prints one JSON line ``{"ready": true}`` once the files are watched, then ``{"t": seconds, "file":
F, "pids": [...]}`` for every scan that finds F open, ``{"t": seconds, "unseen_open": true, "ray_processes": N}``
for an open whose reader the scan did not find, ``{"killed": [...], "actors": [...]}`` for
every kill, and with ``--tasks`` ``{"t": seconds, "tasks": [...]}`` for every scan that finds
processes titled ``ray::TITLE`` (Ray titles a worker by the task it runs, ``ray::IDLE`` between
tasks); ends when its standard input closes.

The engine actor is killed with the first reader, or as soon as it appears after that: Ray Data
starts the actor and the first analysis task together (within 50 ms here), and on a loaded
machine the task can open its clip while the actor's process is still titled ``ray::IDLE``.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import time
from pathlib import Path

from inotify_simple import INotify, flags

# While a watched file is open, scan this often, to follow how long it stays open.
RESCAN_S = 0.02


def ray_processes(ancestor: int) -> dict[int, str]:
    """{pid: title} of the Ray workers and actors (titled ``ray::...``) below ``ancestor``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::") and _descends_from(int(entry.name), ancestor):
                found[int(entry.name)] = title
    return found


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the parent's pid
        if pid == ancestor:
            return True
    return False


def open_files(pid: int) -> set[str]:
    files = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            files.add(os.readlink(fd))
    except OSError:  # the process ended or closed the descriptor meanwhile
        pass
    return files


def _say(**fields) -> None:
    print(json.dumps(fields), flush=True)


def watch(ancestor: int, files: list[str], kill: int, and_actor: bool, tasks: str | None) -> None:
    inotify = INotify()
    for path in files:
        inotify.add_watch(path, flags.OPEN)
    _say(ready=True)
    killed: set[int] = set()
    actor_due = False  # a reader died; the engine actor dies as soon as it is seen
    active = False
    while True:
        ready, _, _ = select.select([inotify, sys.stdin], [], [], RESCAN_S if active or tasks else 1.0)
        if sys.stdin in ready:
            return  # the test closed our input: its run is over
        if inotify in ready:
            inotify.read(timeout=0)
        if not (ready or active or tasks):
            continue
        processes = ray_processes(ancestor)
        if tasks:
            running = [pid for pid, title in processes.items() if title.startswith(f"ray::{tasks}")]
            if running:
                _say(t=time.monotonic(), tasks=running)
        held = {pid: open_files(pid) for pid in processes} if files else {}
        active = actor_due
        victims = []
        for path in files:
            readers = [pid for pid, names in held.items() if path in names]
            if readers:
                active = True
                _say(t=time.monotonic(), file=path, pids=readers)
            victims += [pid for pid in readers if pid not in killed][: kill - len(killed) - len(victims)]
        if inotify in ready and not active:  # an open whose reader was gone (or never ours) by the scan
            _say(t=time.monotonic(), unseen_open=True, ray_processes=len(processes))
        if victims and and_actor:
            actor_due, and_actor = True, False  # the actor dies once, with the first reader
        actors = [pid for pid, title in processes.items() if "_EngineActor" in title] if actor_due else []
        if victims or actors:
            for pid in victims + actors:
                os.kill(pid, signal.SIGKILL)
            killed.update(victims)
            actor_due = actor_due and not actors
            _say(killed=victims, actors=actors)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ancestor", type=int)
    parser.add_argument("files", nargs="*")
    parser.add_argument("--kill", type=int, default=0, help="kill the first N readers, one per process")
    parser.add_argument("--and-actor", action="store_true",
                        help="kill the engine actors with the first reader, or as soon as they appear after it")
    parser.add_argument("--tasks", help="report the processes running a task of this title, every scan")
    args = parser.parse_args()
    watch(args.ancestor, [os.path.realpath(f) for f in args.files], args.kill, args.and_actor, args.tasks)


if __name__ == "__main__":
    main()
