"""Processing workers: `triaje run --workers N` starts N processes that claim batches.

Fetching stays in the daemon (one connection per mailbox it holds); with more than one
worker it only commits raw bytes, and the workers, each a process of its own with its own
engine and model (processing is CPU-bound, so threads would share one core), claim
batches of stored mail (inboundstate.claim: SKIP LOCKED on PostgreSQL) and process them;
the daemon's sender sends what they queued (one sender per daemon: an outage is logged
once, not once a worker). Two pipes keep that as quick as processing in the daemon: the
daemon writes to one when it stored mail (an idle worker wakes at once, not after
IDLE_WAIT), and a worker writes to the other after every batch it committed (the sender
wakes at once, not at its next look every WORKER_DRAIN_INTERVAL). Looks every 0.2 s and
0.5 s alone had doubled the idle acknowledgement latency; they stay as the fallback, for
mail another daemon stored.
Several machines running `triaje run` against one
PostgreSQL share the work the same way, since a claim is all a worker needs.

A worker dies with its daemon (PR_SET_PDEATHSIG on Linux, and a check of its parent), so
a SIGKILLed daemon leaves no orphan; its claims are taken back by the restarted daemon.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.process import runner
from pipeline.services import Services
from pipeline.tracking import retrain

log = logging.getLogger("triaje.workers")
CLAIM = 50  # a worker's batch: small enough that a burst is shared between workers
IDLE_WAIT = 1.0  # seconds between two looks for work when none was waiting and no wake-up
WORKER_DRAIN_INTERVAL = 0.5  # the daemon's sender, when workers fill the outbox
MODEL_WATCH = 60.0  # seconds between two looks at the model in service, as the daemon's watch
PR_SET_PDEATHSIG = 1


def default_count() -> int:
    return os.cpu_count() or 1


@dataclass
class Pool:
    """The worker processes and the daemon's ends of the two pipes: `batches` (the workers
    write a byte after each batch; a thread here reads it and wakes the sender) and `work`
    (the daemon writes a byte per worker when it stored new mail; an idle worker waiting
    for work wakes at once instead of after IDLE_WAIT)."""

    procs: list[subprocess.Popen]
    work: int

    def new_mail(self) -> None:
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(self.work, b"!" * len(self.procs))

    def stop(self, timeout: float = 15.0) -> None:
        stop(self.procs, timeout)
        with contextlib.suppress(OSError):
            os.close(self.work)


def start(config_path: str, verbose: int, count: int,
          on_batch: Callable[[], None] | None = None) -> Pool:
    """`count` worker processes; `on_batch` is called (in a thread) after each batch any of
    them committed."""
    done_r, done_w = os.pipe()
    work_r, work_w = os.pipe()
    os.set_blocking(work_w, False)
    command = [sys.executable, "-m", "pipeline.cli", *(["-" + "v" * verbose] if verbose else []),
               "--config", config_path, "worker", "--parent", str(os.getpid()),
               "--wake-fd", str(done_w), "--work-fd", str(work_r)]
    try:
        procs = [subprocess.Popen(command, pass_fds=(done_w, work_r)) for _ in range(count)]
    finally:
        os.close(done_w)  # the workers hold it now: when all have exited, the reader sees EOF
        os.close(work_r)
    threading.Thread(target=_listen, args=(done_r, on_batch or (lambda: None)),
                     name="worker batches", daemon=True).start()
    return Pool(procs, work_w)


def _listen(fd: int, on_batch: Callable[[], None]) -> None:
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while pipe.read(512):  # one byte per batch; several may arrive as one read
            on_batch()


def tell_done(fd: int | None) -> None:
    """A batch committed: the daemon's sender may have mail to send. Never blocks (a
    full pipe means a wake-up is pending already) and never fails the worker."""
    if fd is None:
        return
    with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
        os.write(fd, b"!")


def stop(procs: list[subprocess.Popen], timeout: float = 15.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def die_with(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a crash of the daemon)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the loop's check ends it
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def wait_for_work(work_fd: int | None, env: Services) -> None:
    """Until the daemon says it stored mail, or IDLE_WAIT (mail another daemon stored)."""
    if work_fd is None:
        env.stop.wait(IDLE_WAIT)
        return
    ready, _, _ = select.select([work_fd], [], [], IDLE_WAIT)
    if ready:
        with contextlib.suppress(BlockingIOError, OSError):
            os.read(work_fd, 1)  # one byte each: the other workers wake too


def loop(env: Services, parent: int, wake_fd: int | None = None,
         work_fd: int | None = None) -> None:
    """Claim and process until stopped; a model put in service meanwhile (promote,
    rollback, retrain, install) is loaded here too, since this process classifies."""
    watched = time.monotonic()
    while not env.stop.is_set() and os.getppid() == parent:
        if time.monotonic() - watched >= MODEL_WATCH:
            retrain.reload_if_changed(env)
            watched = time.monotonic()
        summary = runner.Summary()
        ids = runner.inboundstate.claim(env.engine, env.instance, CLAIM)
        if not ids:
            wait_for_work(work_fd, env)
            continue
        runner.process_claimed(env, ids, summary)
        tell_done(wake_fd)
