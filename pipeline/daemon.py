"""`triaje run`: APScheduler jobs per mailbox plus IDLE watchers, stopped cleanly by signal.

SIGTERM or SIGINT sets the stop event: the message in hand is finished and committed, the
rest of a batch stays committed as raw bytes for the next start, and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from pipeline.errors import FetchError
from pipeline.ingest.idle import IdleWatcher
from pipeline.ingest.ownership import Heartbeat, Ownership
from pipeline.ingest.poller import MailboxPoller
from pipeline.monitor.server import MonitorServer
from pipeline.outbound import sender
from pipeline.outbound.templatecheck import check_templates
from pipeline.process import inboundstate
from pipeline.process import workers as processworkers
from pipeline.services import Services
from pipeline.tracking import retrain

log = logging.getLogger("triaje.daemon")
MISFIRE_GRACE = 30
DRAIN_INTERVAL = 15  # seconds; new mail is drained at once, this only paces retries


class Sender(threading.Thread):
    """Drains the outbox in a thread of its own, woken after every committed batch and
    every DRAIN_INTERVAL seconds (retries). Mail of a large backlog starts leaving while the
    rest is still being processed, instead of after the whole poll cycle; a wake-up during
    a drain is kept and causes one more drain."""

    def __init__(self, env: Services, interval: float = DRAIN_INTERVAL) -> None:
        super().__init__(name="outbox", daemon=True)
        self.env, self.interval = env, interval
        self.wakeup = threading.Event()
        self.wakeup.set()  # rows queued before a restart go out at once
        self.failing = False  # log a failing drain once per episode, not every 15 s

    def __call__(self) -> None:
        self.wakeup.set()

    def run(self) -> None:
        while not self.env.stop.is_set():
            self.wakeup.wait(self.interval)
            self.wakeup.clear()
            if not self.env.stop.is_set():
                self.drain_once()

    def drain_once(self) -> None:
        try:
            sender.drain(self.env.engine, self.env.config.outbound, stop=self.env.stop,
                         owner=self.env.instance)
        except Exception:
            if not self.failing:
                log.exception("outbox drain failed; the rows stay queued")
            self.failing = True
        else:
            if self.failing:
                log.info("outbox drain works again")
            self.failing = False


def take_back_dead(env: Services) -> None:
    """A daemon restarting on this host resumes what its killed predecessor held (work
    claims, outbox claims) at once, instead of after their leases; mailbox leases are taken
    back the same way when the pollers ask for them."""
    try:
        claims = inboundstate.take_back_dead(env.engine, env.instance)
        mails = sender.take_back_dead(env.engine, env.instance)
    except Exception as exc:  # the database is away: the leases expire by themselves
        log.warning("could not take back a dead predecessor's leases (%s)", exc)
        return
    if claims or mails:
        log.info("took back from a dead predecessor: %d inbound claims, %d outbox claims",
                 claims, mails)


def _poll_job(poller: MailboxPoller) -> None:
    try:
        poller.poll()
    except FetchError as exc:
        log.debug("%s", exc)
    poller.after_poll()


def warm_up(env: Services) -> None:
    """Render every template once on sample mail before the first poll: it loads the
    language detector and compiles the templates (the first message's ack came 0.8 s
    later than the rest without it) and reports a broken site template at start, not
    at the first mail. The daemon runs anyway: ingest must not stop over a template."""
    try:
        check_templates(env.config.outbound)
    except Exception as exc:
        log.error("templates: %s (mails using it fail in the outbox until it is fixed; "
                  "then run `triaje outbox retry`)", exc)


class Daemon:
    def __init__(self, env: Services, extra_jobs: list[tuple[Callable, dict]] | None = None,
                 workers: int = 1, config_path: str | None = None, verbose: int = 0) -> None:
        """`workers` > 1 (with the config's path, which the worker processes read): fetch
        here, process in that many worker processes; 1: process in the fetching thread."""
        self.env = env
        self.worker_count = workers if workers > 1 and config_path else 1
        self.config_path, self.verbose = config_path, verbose
        self.workers: processworkers.Pool | None = None
        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE})
        self.sender = Sender(env, processworkers.WORKER_DRAIN_INTERVAL if self.worker_count > 1
                             else DRAIN_INTERVAL)
        self.ownership = Ownership(env.engine, env.instance, [m.name for m in env.config.mailboxes])
        self.heartbeat = Heartbeat(self.ownership, env.stop)
        self.pollers = [MailboxPoller(env, cfg, self.after_fetch, ownership=self.ownership,
                                      process=self.worker_count == 1)
                        for cfg in env.config.mailboxes]
        self.watchers: list[IdleWatcher] = []
        self.extra_jobs = [*retrain.scheduled_jobs(env, watch_model=self.worker_count == 1),
                           *(extra_jobs or [])]
        self.monitor = MonitorServer(env.engine, env.config) if env.config.metrics.listen else None

    def after_fetch(self) -> None:
        """A fetched batch is committed: its processing starts now (idle workers are
        woken; without workers it is already done here, and the sender is woken)."""
        if self.workers is not None:
            self.workers.new_mail()
        else:
            self.sender()

    def start(self) -> None:
        warm_up(self.env)
        if self.monitor is not None:
            self.monitor.start()
        take_back_dead(self.env)
        self.heartbeat.beat()  # counted among the daemons alive before taking mailboxes
        now = datetime.now(UTC)
        for poller in self.pollers:
            self.scheduler.add_job(_poll_job, "interval", args=[poller], id=f"poll:{poller.cfg.name}",
                                   seconds=poller.cfg.poll_interval, next_run_time=now)
            if poller.cfg.idle and not poller.cfg.is_maildir:
                self.watchers.append(IdleWatcher(poller))
        for func, trigger in self.extra_jobs:
            self.scheduler.add_job(func, **trigger)
        if self.worker_count > 1:
            self.workers = processworkers.start(self.config_path, self.verbose, self.worker_count,
                                                on_batch=self.sender)
        self.scheduler.start()
        self.heartbeat.start()
        self.sender.start()
        for watcher in self.watchers:
            watcher.start()
        log.info("triaje daemon running: %d mailboxes, %d IDLE watchers, %d processing workers",
                 len(self.pollers), len(self.watchers), self.worker_count)

    def stop(self) -> None:
        self.env.stop.set()
        self.scheduler.shutdown(wait=True)
        self.sender.wakeup.set()
        self.sender.join(timeout=10)
        for watcher in self.watchers:
            watcher.join(timeout=5)
        for poller in self.pollers:
            poller.close()
        if self.monitor is not None:
            self.monitor.stop()
        if self.workers is not None:
            self.workers.stop()  # each finishes the batch in hand
        self.heartbeat.join(timeout=5)
        try:
            self.ownership.release_all()  # the other daemons take the mailboxes over at once
        except Exception as exc:
            log.warning("could not release the mailbox leases (%s): they expire by themselves", exc)
        log.info("triaje daemon stopped")

    def run_until_signal(self) -> None:
        def handle(signum, _frame) -> None:
            log.info("received %s: finishing the message in hand", signal.Signals(signum).name)
            self.env.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
        self.start()
        try:
            while not self.env.stop.wait(1.0):
                pass
        finally:
            self.stop()
