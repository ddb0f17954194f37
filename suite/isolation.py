"""Keeping the kit and the implementation apart: numeric state, time limits, read-only inputs.

The kit computes its answers and messages under its own numpy error state, print options and
warning filters (`kit_numerics`), whatever the user's module set at import or the command line
asked for; each call of the implementation runs under the user's own (`user_numerics`), so
`np.seterr(all="raise")` or `-W error` apply to their code, never to ours.
"""

import contextlib
import ctypes
import functools
import math
import os
import signal
import threading
import time
import warnings
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

# numpy's own defaults: the kit's messages look the same whatever the user's print options.
PRINT_DEFAULTS = dict(
    precision=8,
    threshold=1000,
    edgeitems=3,
    linewidth=75,
    suppress=False,
    nanstr="nan",
    infstr="inf",
    formatter=None,
    sign="-",
    floatmode="maxprec",
    legacy=False,
)


@dataclass(frozen=True)
class NumericState:
    """numpy's error handling and print options, and the warning filters, as they were."""

    errors: dict
    printing: dict
    filters: list

    @classmethod
    def now(cls):
        return cls(np.geterr(), np.get_printoptions(), list(warnings.filters))


_user_state = ContextVar("attention_conformance_user_state", default=None)


@contextlib.contextmanager
def kit_numerics():
    """The kit's own state: numpy errors ignored, default print options, no warnings."""
    token = _user_state.set(NumericState.now())
    try:
        with np.errstate(all="ignore"), np.printoptions(**PRINT_DEFAULTS), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        _user_state.reset(token)


@contextlib.contextmanager
def user_numerics():
    """Inside kit_numerics: the state the user had when it began (nothing changes outside it)."""
    user = _user_state.get()
    if user is None:
        yield
        return
    with np.errstate(**user.errors), np.printoptions(**user.printing), warnings.catch_warnings():
        warnings.filters[:] = user.filters  # catch_warnings restores the kit's filters on the way out
        yield


class CallTimedOut(BaseException):
    """Raised inside a call that outlived --impl-timeout. A BaseException, so that the
    implementation's own `except Exception` cannot swallow it."""


# After the interruption, how long a call has to stop before the process is given up: the timeout
# itself, within these bounds (a cooperative call stops at once; a stuck one never does).
GRACE = (1.0, 10.0)
# The longest limit a timer takes (threading's, which is also below what setitimer accepts here).
LONGEST = min(threading.TIMEOUT_MAX, 10.0**8)


@contextlib.contextmanager
def deadline(seconds, on_stuck=None):
    """Raise CallTimedOut in the block after `seconds` (0, None or inf: no limit); if the block
    goes on all the same, call `on_stuck()` from the watchdog thread, which must end the process.

    Two stages, because the first needs the implementation's cooperation and the second does
    not. First the interruption: SIGALRM on a Unix main thread (as pytest-timeout's signal
    method; it also interrupts a sleep), else an asynchronous exception in the calling thread.
    A call can defeat it (`except BaseException` in a retry loop, its own SIGALRM handler, a C
    loop that never returns to Python): after a grace period the watchdog thread calls
    `on_stuck`, as pytest-timeout's thread method does. Any timer already set (pytest-timeout's)
    is put back afterwards with the time it had left.
    """
    if not seconds or math.isinf(seconds):
        yield
        return
    grace = min(max(seconds, GRACE[0]), GRACE[1])
    on_stuck = on_stuck or functools.partial(give_up, ["a call did not stop after --impl-timeout, even when interrupted"])
    with _interruption(seconds), WATCHDOG.after(seconds + grace, on_stuck):
        yield


@contextlib.contextmanager
def _interruption(seconds):
    """The first stage: CallTimedOut raised in the calling thread after `seconds`."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        with WATCHDOG.after(seconds, functools.partial(_raise_in, threading.get_ident())):
            yield
        return

    def expire(signum, frame):
        raise CallTimedOut(seconds)

    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            signal.setitimer(signal.ITIMER_REAL, previous_delay, previous_interval)


class Watchdog:
    """One daemon thread for the process that calls each armed action whose time has come
    (starting a thread per call would cost about 2 ms a call)."""

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # mutmut forks: no thread, nor held lock, crosses

    def _reset(self):
        self.condition = threading.Condition()
        self.armed = {}  # token -> (when, action)
        self.thread = None
        self.waking = -math.inf  # when the thread, asleep, wakes next

    @contextlib.contextmanager
    def after(self, seconds, act):
        """Call `act()` from the watchdog thread if the block is still running after `seconds`."""
        token = object()
        with self.condition:
            when = time.monotonic() + seconds
            self.armed[token] = (when, act)
            if self.thread is None:
                self.thread = threading.Thread(target=self._watch, name="attention-conformance-watchdog", daemon=True)
                self.thread.start()
            if when < self.waking:  # wake the thread only when it would otherwise sleep past this
                self.condition.notify()
        try:
            yield
        finally:
            with self.condition:
                self.armed.pop(token, None)  # gone already when it acted

    def _watch(self):
        while True:
            with self.condition:
                now = time.monotonic()
                due = [token for token, (when, _) in self.armed.items() if when <= now]
                actions = [self.armed.pop(token)[1] for token in due]
                if not actions:
                    self.waking = min((when for when, _ in self.armed.values()), default=math.inf)
                    self.condition.wait(None if math.isinf(self.waking) else self.waking - now)
                    self.waking = -math.inf  # awake: it looks at every armed action before it sleeps again
            for act in actions:  # outside the lock: the block's own exit takes it
                act()


WATCHDOG = Watchdog()


def _raise_in(thread_id):
    """Raise CallTimedOut in another thread, at its next Python instruction."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(CallTimedOut))


def give_up(lines, status=1):
    """The last resort when a call will not stop: say so on the process's standard error as it is
    (whatever captures sys.stderr), and end the process."""
    os.write(2, ("\n".join(["attention conformance: the run cannot go on", *lines]) + "\n").encode())
    os._exit(status)


class Inputs:
    """What a call's array arguments and parameter dicts held before the call, to tell after
    it whether the implementation changed them: values, shapes, dtypes, and keys added,
    removed or rebound. The arguments named in `opaque` (the decode cache) are not watched."""

    def __init__(self, named, opaque=("cache",)):
        self.watched = {}
        for name, value in named.items():
            if name in opaque:
                continue
            if isinstance(value, np.ndarray):
                self.watched[name] = (value, value.copy())
            elif isinstance(value, dict):
                self.watched[name] = (value, {key: (item, _copy(item)) for key, item in value.items()})

    def changes(self):
        """What changed since, in words: [] when nothing did."""
        found = []
        for name, (value, before) in self.watched.items():
            if isinstance(value, np.ndarray):
                found += _array_changes(name, value, before)
                continue
            for key in sorted(set(value) - set(before), key=str):
                found.append(f"added {name}[{key!r}] to its input {name}")
            for key in sorted(set(before) - set(value), key=str):
                found.append(f"removed {name}[{key!r}] from its input {name}")
            for key, (item, copy) in before.items():
                if key not in value:
                    continue
                if value[key] is not item:
                    found.append(f"replaced {name}[{key!r}] in its input {name} with another object")
                elif isinstance(item, np.ndarray):
                    found += _array_changes(f"{name}[{key!r}]", item, copy)
        return found


def _copy(item):
    return item.copy() if isinstance(item, np.ndarray) else item


def _array_changes(name, array, before):
    if array.shape != before.shape or array.dtype != before.dtype:
        shapes = f"{before.dtype}{list(before.shape)} to {array.dtype}{list(array.shape)}"
        return [f"changed the shape or dtype of its input {name} in place ({shapes})"]
    # bit for bit: a write of -0.0 over 0.0, or of another NaN, is a write too
    if array.tobytes() != before.tobytes():
        return [f"changed its input {name} in place"]
    return []
