"""A timeout policy's own worker threads, for sync callees it may walk away from.

Each thread-mode :class:`~rebellion.policies.timeout.Timeout` owns one
:class:`Workers`: at most ``capacity`` daemon threads, started on demand and kept
idle afterwards. A job never queues behind a busy thread: when every thread is taken
(by running callees, or by hung ones the callers walked away from) the next call is
refused with :class:`~rebellion.errors.TimeoutCapacityError` at once, so one hung
dependency exhausts only its own policy's threads. Threads are daemons: a callee hung
forever does not keep the interpreter from exiting. A thread idle for ``idle_seconds``
exits, so a policy that is no longer used holds no threads.

>>> workers = Workers("demo", capacity=2)
>>> job = workers.submit(lambda x: x * 2, (21,), {}, None)
>>> job.wait(5.0), job.outcome()
(True, 42)
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, final

from ..errors import TimeoutCapacityError

__all__ = ["Job", "Workers"]


@final
class Job:
    """One callee run in a worker thread; the caller waits on ``done`` or walks away."""

    __slots__ = (
        "abandoned",
        "args",
        "context",
        "done",
        "error",
        "finished",
        "fn",
        "kwargs",
        "notify",
        "result",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        notify: Callable[[Job], object] | None,
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.context = contextvars.copy_context()
        self.done = threading.Lock()
        self.done.acquire()
        self.notify = notify
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False
        self.abandoned = False

    def wait(self, seconds: float) -> bool:
        """Block (real time) until the callee finished or ``seconds`` passed."""
        return self.done.acquire(timeout=seconds)

    def outcome(self) -> Any:
        """Return the callee's result or raise its exception."""
        if self.error is not None:
            error, self.error = self.error, None  # no reference cycle through the traceback
            raise error
        return self.result


@final
class Workers:
    """At most ``capacity`` threads for one policy; refuses a job when all are taken."""

    def __init__(self, name: str, capacity: int, idle_seconds: float = 60.0) -> None:
        self.name = name
        self.capacity = capacity
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self.busy = 0
        self.idle = 0
        self.abandoned = 0
        self.threads = 0

    def submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        notify: Callable[[Job], object] | None,
    ) -> Job:
        """Start ``fn`` on a free thread; ``notify(job)`` runs in it when it finishes.

        Raises:
            TimeoutCapacityError: every thread is taken.
        """
        job = Job(fn, args, kwargs, notify)
        with self._lock:
            if self.busy >= self.capacity:
                abandoned = self.abandoned
                raise TimeoutCapacityError(
                    self.name,
                    f"timeout {self.name!r} has all {self.capacity} threads taken "
                    f"({abandoned} by calls it walked away from)",
                )
            self.busy += 1
            spawn = not self.idle
            if spawn:
                self.threads += 1
            else:
                self.idle -= 1
                # Under the lock: an idle thread about to retire sees the job (_serve).
                self._jobs.put(job)
        if spawn:
            name = f"rebellion-timeout-{self.name}"
            threading.Thread(target=self._serve, args=(job,), name=name, daemon=True).start()
        return job

    def abandon(self, job: Job) -> bool:
        """Mark ``job`` as walked away from; ``False`` if it had finished meanwhile."""
        with self._lock:
            if job.finished:
                return False
            job.abandoned = True
            self.abandoned += 1
            return True

    def _serve(self, job: Job) -> None:
        while True:
            try:
                job.result = job.context.run(job.fn, *job.args, **job.kwargs)
            except BaseException as error:  # handed to the caller, never lost
                job.error = error
            with self._lock:
                job.finished = True
                self.busy -= 1
                if job.abandoned:
                    self.abandoned -= 1
                    job.error = None
                self.idle += 1
            job.done.release()
            if job.notify is not None:
                try:
                    job.notify(job)
                except RuntimeError:
                    pass  # the waiting event loop is gone: nobody is left to tell
            del job  # an idle thread keeps no result alive
            next_job = self._next_job()
            if next_job is None:
                return
            job = next_job

    def _next_job(self) -> Job | None:
        """Wait for a job; ``None`` once idle for ``idle_seconds`` (the thread retires)."""
        while True:
            try:
                return self._jobs.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():  # no job was handed to an idle thread meanwhile
                        self.idle -= 1
                        self.threads -= 1
                        return None
