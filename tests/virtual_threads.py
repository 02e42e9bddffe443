"""Real threads on virtual time, for tests of code that sends from a pool while its own thread sleeps and writes.

One thread runs at a time (it holds the baton); the others wait to be handed it. A thread gives the baton up when
it sleeps (``sleep``), waits for a future of ``pool`` (``Future.result``) or ends; the next thread ready to run
gets it, and when none is ready the clock moves to the earliest wake-up. So a run is deterministic and instant,
and concurrency is what the code under test would see at those instants: sends in flight while the worker
sleeps toward its next ask, a write that takes a few milliseconds while sends start at their slots.

A task that raises ``WorkerCrash`` kills the worker: every other task stops where it waits (nothing more is
sent), and the thread that started them gets the crash the next time it would wait.

Every thread that takes part must come through here: the test's own thread joins on its first call.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from tests.fakes import FrozenClock, WorkerCrash

REAL_TIMEOUT_S = 30
_P = ParamSpec("_P")
_T = TypeVar("_T")


class _Killed(BaseException):
    """Ends a task of a worker that crashed."""


class _Token:
    def __init__(self, *, task: bool, future: Future[object] | None = None) -> None:
        self.task = task  # False: the test's own thread
        self.future = future  # a task's
        self.killed = False


class VirtualThreads:
    """The scheduler: ``sleep`` is the ports' Sleeper, ``pool`` their ``send_pool``, ``spawn`` starts a task."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self._cond = threading.Condition()
        self._running: _Token | None = None
        self._ready: deque[_Token] = deque()
        self._sleeping: list[tuple[datetime, int, _Token]] = []
        self._waiting: dict[int, list[_Token]] = {}  # id(future) -> tokens waiting for it
        self._tokens: dict[int, _Token] = {}  # thread ident -> token
        self._seq = 0
        self._crash: BaseException | None = None
        self.slept = 0.0
        self.tasks = 0

    # --- what the code under test calls ---

    def sleep(self, seconds: float) -> None:
        with self._cond:
            me = self._me()
            if seconds > 0:
                self.slept += seconds
                self._seq += 1
                heapq.heappush(self._sleeping, (self.clock.now() + timedelta(seconds=seconds), self._seq, me))
                self._hand_on(me)

    def pool(self, workers: int) -> Executor:
        """An executor whose tasks run here (``workers`` is not enforced: the code's own bound is under test)."""
        return _Pool(self)

    def spawn(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        """Start ``fn`` as a task: it first runs when the current thread next waits."""
        future: _Future[_T] = _Future(self)
        token = _Token(task=True, future=future)  # type: ignore[arg-type]
        self.tasks += 1

        def body() -> None:
            try:
                with self._cond:
                    self._tokens[threading.get_ident()] = token
                    self._await_turn(token)
                try:
                    result = fn(*args, **kwargs)
                except WorkerCrash as exc:
                    with self._cond:
                        self._kill_others(token, exc)
                        self._done(future, exc=exc)
                    return
                except _Killed:
                    raise
                except BaseException as exc:  # handed to whoever waits for the future, as a pool does
                    with self._cond:
                        self._done(future, exc=exc)
                    return
                with self._cond:
                    self._done(future, result=result)
            except _Killed:
                with self._cond:
                    self._tokens.pop(threading.get_ident(), None)

        with self._cond:
            self._me()
            self._ready.append(token)
        threading.Thread(target=body, daemon=True).start()
        return future

    def wait(self, future: Future[_T]) -> None:
        with self._cond:
            me = self._me()
            if not future.done():
                self._waiting.setdefault(id(future), []).append(me)
                self._hand_on(me)

    # --- the baton ---

    def _me(self) -> _Token:
        token = self._tokens.get(threading.get_ident())
        if token is None:  # the test's own thread joins, running
            token = _Token(task=False)
            self._tokens[threading.get_ident()] = token
            self._running = token
        return token

    def _next(self) -> _Token | None:
        if self._ready:
            return self._ready.popleft()
        if self._sleeping:
            at, _, token = heapq.heappop(self._sleeping)
            self.clock.at = max(self.clock.at, at)
            return token
        return None

    def _hand_on(self, me: _Token) -> None:
        """Give the baton to the next thread and wait for it to come back (cond held)."""
        nxt = self._next()
        if nxt is None:
            raise AssertionError("every virtual thread waits for another: deadlock")
        self._running = nxt
        self._cond.notify_all()
        self._await_turn(me)
        if not me.task and self._crash is not None:
            crash, self._crash = self._crash, None
            raise crash

    def _await_turn(self, me: _Token) -> None:
        while self._running is not me and not me.killed:
            # Real seconds: only a deadlock in the code under test (or here) takes this long.
            if not self._cond.wait(timeout=REAL_TIMEOUT_S):
                raise AssertionError("no virtual thread ran for a while: deadlock")
        if me.killed:
            raise _Killed

    def _done(self, future: _Future[_T], *, result: _T | None = None, exc: BaseException | None = None) -> None:
        """Complete a task's future, wake its waiters and pass the baton on (cond held; the task ends)."""
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)  # type: ignore[arg-type]
        self._ready.extend(self._waiting.pop(id(future), []))
        self._tokens.pop(threading.get_ident(), None)
        self._running = self._next()
        self._cond.notify_all()

    def _kill_others(self, me: _Token, crash: BaseException) -> None:
        """The worker died: its other tasks stop where they wait; its own thread gets the crash (cond held)."""
        self._crash = crash
        survivors: list[_Token] = []
        for token in [*self._ready, *(t for _, _, t in self._sleeping), *(t for ts in self._waiting.values() for t in ts)]:
            if token.task and token is not me:
                token.killed = True
                if token.future is not None and not token.future.done():
                    token.future.set_exception(crash)
            elif not token.task:
                survivors.append(token)
        self._sleeping.clear()
        self._waiting.clear()
        self._ready = deque(survivors)


class _Future(Future[_T]):
    """A task's future: waiting for it hands the baton on instead of blocking the only running thread."""

    def __init__(self, threads: VirtualThreads) -> None:
        super().__init__()
        self._threads = threads

    def result(self, timeout: float | None = None) -> _T:
        self._threads.wait(self)
        return super().result(timeout)


class _Pool(Executor):
    def __init__(self, threads: VirtualThreads) -> None:
        self._threads = threads
        self._futures: list[Future[object]] = []

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        future = self._threads.spawn(fn, *args, **kwargs)
        self._futures.append(future)  # type: ignore[arg-type]
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if wait:
            for future in self._futures:
                if not future.done():
                    try:
                        future.result()
                    except BaseException:  # shutdown only waits: the code saw what it needed
                        pass
