"""Background jobs of the web process: long work (exports, label sheets, imports) with progress.

A page submits a job and gets its id back at once; the job runs on a small thread pool and
reports ``done``/``total`` as it goes, so the page can show a progress bar and never waits on
the work itself. Jobs live in memory: a result is kept for :data:`KEEP_S` seconds after it
finishes, then forgotten. Each job belongs to the user who started it, and nobody else can
see it or download its result. With several web worker processes a job is visible only in
the process that runs it, so deployments keep the job pages on one worker (``docs/ui.md``).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from wardlink.hub.errors import HubError, Message, NotFound
from wardlink.hub.i18n import N_
from wardlink.clock import Clock

log = logging.getLogger("wardlink.web.jobs")

#: How long a finished job and its result stay downloadable, in seconds.
KEEP_S = 3600.0
#: Most jobs remembered at once; the oldest finished ones are forgotten first.
MAX_JOBS = 500
JOB_STATES = ("queued", "running", "done", "failed")


class JobCancelled(HubError, RuntimeError):
    """The job was cancelled (the web server is stopping)."""


@dataclass(frozen=True)
class JobResult:
    """What a finished job hands back: a downloadable file and a one-line summary."""

    summary: str | Message
    filename: str | None = None
    mimetype: str = "application/octet-stream"
    content: bytes | None = None
    #: Rows or items that could not be handled, shown on the job page (e.g. import errors).
    problems: tuple[str | Message, ...] = ()


@dataclass
class Job:
    """One unit of background work and how far it has got."""

    id: str
    kind: str
    title: str | Message
    owner_id: int | None
    created_at: float
    state: str = "queued"
    done: int = 0
    total: int | None = None
    #: What the job is doing, its summary and problems and its error: messages, which the job's
    #: page writes in its reader's language (the job runs outside any request); JSON has English.
    message: str | Message = ""
    result: JobResult | None = None
    error: str | Message | None = None
    finished_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def is_finished(self) -> bool:
        """Return True when the job has succeeded or failed."""
        return self.state in ("done", "failed")

    @property
    def percent(self) -> int | None:
        """Return progress as 0..100, or None while the amount of work is unknown."""
        if self.state == "done":
            return 100
        if not self.total:
            return None
        return min(100, int(self.done * 100 / self.total))

    def to_json(self) -> dict:
        """Return the job's public state (never its result bytes)."""
        return {"id": self.id, "kind": self.kind, "title": str(self.title), "state": self.state,
                "done": self.done, "total": self.total, "percent": self.percent,
                "message": str(self.message), "error": None if self.error is None else str(self.error),
                "summary": str(self.result.summary) if self.result else None,
                "download": bool(self.result and self.result.content is not None)}


class Progress:
    """Handed to a job's function so it can say how far it has got."""

    def __init__(self, job: Job, cancelled: threading.Event) -> None:
        self._job = job
        self._cancelled = cancelled

    def total(self, n: int) -> None:
        """Declare how many steps the job has."""
        with self._job._lock:
            self._job.total = max(0, int(n))

    def advance(self, n: int = 1, message: str | Message | None = None) -> None:
        """Count ``n`` steps done; raise :class:`JobCancelled` when the server is stopping."""
        if self._cancelled.is_set():
            raise JobCancelled(N_("the web server is stopping"))
        with self._job._lock:
            self._job.done += n
            if message is not None:
                self._job.message = message

    def note(self, message: str | Message) -> None:
        """Show ``message`` as the job's current activity."""
        with self._job._lock:
            self._job.message = message


JobFunction = Callable[[Progress], JobResult]


class JobRegistry:
    """Run jobs on a thread pool and remember them for their owners."""

    def __init__(self, clock: Clock, *, workers: int = 2, keep_s: float = KEEP_S,
                 max_jobs: int = MAX_JOBS) -> None:
        self._clock = clock
        self._keep_s = keep_s
        self._max_jobs = max_jobs
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="web-job")
        self._closed = False

    def submit(self, *, kind: str, title: str | Message, owner_id: int | None, fn: JobFunction) -> Job:
        """Queue ``fn`` as a job owned by ``owner_id`` and return the job at once."""
        now = self._clock.now()
        job = Job(id=secrets.token_urlsafe(12), kind=kind, title=title, owner_id=owner_id,
                  created_at=now)
        with self._lock:
            if self._closed:
                raise JobCancelled(N_("the web server is stopping; try again in a moment"))
            self._forget_old(now)
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, fn)
        return job

    def _run(self, job: Job, fn: JobFunction) -> None:
        with job._lock:
            job.state = "running"
        try:
            result = fn(Progress(job, self._cancelled))
        except HubError as exc:  # expected failures: their message is meant for the user
            self._finish(job, error=exc.message)
        except Exception:
            log.exception("job %s (%s) failed", job.id, job.kind)
            self._finish(job, error=Message(N_("the job failed on the server; the error has been logged")))
        else:
            self._finish(job, result=result)

    def _finish(self, job: Job, *, result: JobResult | None = None, error: str | Message | None = None) -> None:
        with job._lock:
            job.result, job.error = result, error
            job.state = "failed" if error is not None else "done"
            job.finished_at = self._clock.now()
            if job.total is not None and error is None:
                job.done = job.total
        job._finished.set()

    def _forget_old(self, now: float) -> None:
        expired = [jid for jid, j in self._jobs.items()
                   if j.finished_at is not None and now - j.finished_at > self._keep_s]
        for jid in expired:
            del self._jobs[jid]
        finished = [jid for jid, j in self._jobs.items() if j.is_finished]
        while len(self._jobs) >= self._max_jobs and finished:
            del self._jobs[finished.pop(0)]

    def get(self, job_id: str, *, owner_id: int | None) -> Job:
        """Return the job ``job_id`` if ``owner_id`` started it; else raise :class:`NotFound`."""
        with self._lock:
            job = self._jobs.get(job_id)
        # Someone else's job is reported as missing, so ids cannot be probed.
        if job is None or job.owner_id != owner_id:
            raise NotFound(f"job '{job_id}' does not exist or has expired")
        return job

    def for_owner(self, owner_id: int | None) -> list[Job]:
        """Return the jobs of ``owner_id``, newest first."""
        with self._lock:
            return [j for j in reversed(self._jobs.values()) if j.owner_id == owner_id]

    def wait(self, job_id: str, timeout: float) -> Job:
        """Block until a job finishes or ``timeout`` passes (for the command line and tests)."""
        with self._lock:
            job = self._jobs[job_id]
        job._finished.wait(timeout)
        return job

    def close(self) -> None:
        """Cancel what is still running and stop the pool; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._cancelled.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
