"""``ember.profiler``: a CPU profiler with torch.profiler's API.

>>> from ember.profiler import profile, record_function, ProfilerActivity
>>> with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
...     with record_function("model_inference"):
...         y = model(x)
>>> print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))

What is timed: every op that runs through an autograd node (its forward, named as torch names ops, e.g.
``aten::mul``, ``aten::addmm``), every node's backward (named after its grad_fn, e.g. ``MulBackward0``), and each
``record_function`` range. Times are wall-clock on the calling thread; *self* time is an event's time minus
that of the events nested in it. ``profile_memory=True`` counts the bytes of each op's outputs (allocations
only; torch also records frees). ``record_shapes=True`` keeps the input shapes.

The hooks cost nothing when no profiler runs: starting one wraps the ``__call__`` and ``backward`` of the node
classes and stopping it puts the originals back, so the per-op path is unchanged otherwise. Node classes first
defined while a profile runs (a module imported inside it) are not timed in that profile.
Nested profiles: the innermost running one gets the events. Not available: CUDA activity, ``with_stack``,
``with_flops``, ``with_modules`` (warned and ignored).
"""
from __future__ import annotations

import enum
import functools
import json
import os
import socket
import tempfile
import threading
import time
import warnings

import numpy as np

__all__ = ["ProfilerAction", "ProfilerActivity", "profile", "record_function", "schedule", "supported_activities",
           "tensorboard_trace_handler", "kineto_available"]


class ProfilerActivity(enum.Enum):
    CPU = 0
    XPU = 1
    MTIA = 2
    CUDA = 3
    HPU = 4
    PrivateUse1 = 5


class ProfilerAction(enum.Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3
    DEVICE_STOPPED = 4


def supported_activities():
    """``{ProfilerActivity.CPU}``: ember's profiler times CPU ops."""
    return {ProfilerActivity.CPU}


def kineto_available() -> bool:
    """False: ember's profiler is its own (no Kineto)."""
    return False


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0,
             skip_first_wait: int = 0):
    """torch's profiler schedule: skip ``skip_first`` steps, then cycles of ``wait`` idle, ``warmup`` and
    ``active`` recorded steps (``repeat`` cycles, 0 = until the profile ends)."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise AssertionError(
            f"Invalid profiler schedule arguments. Got wait={wait} (need >= 0), warmup={warmup} (need >= 0), "
            f"active={active} (need > 0), repeat={repeat} (need >= 0), skip_first={skip_first} (need >= 0).")
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results", stacklevel=2)

    def schedule_fn(step: int) -> ProfilerAction:
        if step < 0:
            raise AssertionError(f"Step must be non-negative. Got {step}.")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait != 0:
            step += wait
        num_steps = wait + warmup + active
        if repeat > 0 and step / num_steps >= repeat:
            return ProfilerAction.NONE
        mod_step = step % num_steps
        if mod_step < wait:
            return ProfilerAction.NONE
        if mod_step < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if mod_step < num_steps - 1 else ProfilerAction.RECORD_AND_SAVE

    return schedule_fn


# ---------------------------------------------------------------------------------------------- events


class FunctionEvent:
    """One timed range: ``name``, start/end in microseconds, ``input_shapes``, ``cpu_memory_usage`` (bytes),
    ``cpu_children`` and the derived ``cpu_time_total`` / ``self_cpu_time_total`` (microseconds)."""

    __slots__ = ("id", "name", "start_us", "end_us", "input_shapes", "cpu_memory_usage", "cpu_children",
                 "cpu_parent", "thread", "is_backward", "_self_mem")

    def __init__(self, eid, name, start_us, thread, input_shapes=None, is_backward=False):
        self.id = eid
        self.name = name
        self.start_us = start_us
        self.end_us = start_us
        self.input_shapes = input_shapes or []
        self.cpu_memory_usage = 0
        self._self_mem = 0
        self.cpu_children = []
        self.cpu_parent = None
        self.thread = thread
        self.is_backward = is_backward

    key = property(lambda self: self.name)
    count = property(lambda self: 1)
    cpu_time_total = property(lambda self: self.end_us - self.start_us)
    self_cpu_time_total = property(
        lambda self: self.cpu_time_total - sum(c.cpu_time_total for c in self.cpu_children))
    self_cpu_memory_usage = property(lambda self: self._self_mem)
    cpu_time = cpu_time_total
    device_time_total = self_device_time_total = cuda_time_total = self_cuda_time_total = property(lambda self: 0)

    def __repr__(self):
        return (f"<FunctionEvent name={self.name!r} cpu_time_total={self.cpu_time_total:.3f}us "
                f"self_cpu_time_total={self.self_cpu_time_total:.3f}us input_shapes={self.input_shapes}>")


class FunctionEventAvg:
    """The events of one key, summed: ``count``, ``cpu_time_total``, ``self_cpu_time_total``, ``cpu_time``
    (average per call), memory totals."""

    def __init__(self, key, input_shapes=None):
        self.key = key
        self.input_shapes = input_shapes
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = 0
        self.self_cpu_memory_usage = 0
        self.is_backward = False

    def add(self, e):
        self.count += 1
        self.cpu_time_total += e.cpu_time_total
        self.self_cpu_time_total += e.self_cpu_time_total
        self.cpu_memory_usage += e.cpu_memory_usage
        self.self_cpu_memory_usage += e.self_cpu_memory_usage
        self.is_backward = e.is_backward
        return self

    cpu_time = property(lambda self: self.cpu_time_total / max(self.count, 1))
    self_cpu_time = property(lambda self: self.self_cpu_time_total / max(self.count, 1))
    device_time_total = self_device_time_total = cuda_time_total = self_cuda_time_total = property(lambda self: 0)

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key!r} count={self.count} cpu_time_total={self.cpu_time_total:.3f}us "
                f"self_cpu_time_total={self.self_cpu_time_total:.3f}us>")


def _fmt_time(us, unit=None):
    if unit == "s" or (unit is None and us >= 1e6):
        return f"{us / 1e6:.3f}s"
    if unit == "ms" or (unit is None and us >= 1e3):
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _fmt_mem(b):
    for unit, size in (("Gb", 1 << 30), ("Mb", 1 << 20), ("Kb", 1 << 10)):
        if abs(b) >= size:
            return f"{b / size:.2f} {unit}"
    return f"{b} b"


class EventList(list):
    """A list of events (``FunctionEvent`` from ``profile.events()``, ``FunctionEventAvg`` from
    ``key_averages()``) with torch's ``table``."""

    def __init__(self, items=(), profile_memory=False, record_shapes=False):
        super().__init__(items)
        self._profile_memory = profile_memory
        self._record_shapes = record_shapes

    @property
    def self_cpu_time_total(self):
        return sum(e.self_cpu_time_total for e in self)

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0, group_by_overload_name=False):
        groups: dict = {}
        for e in _flatten(self):
            k = (e.name, str(e.input_shapes)) if group_by_input_shape else e.name
            avg = groups.get(k)
            if avg is None:
                avg = groups[k] = FunctionEventAvg(e.name, e.input_shapes if group_by_input_shape else None)
            avg.add(e)
        return EventList(groups.values(), self._profile_memory, group_by_input_shape)

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75, max_name_column_width=55,
              max_shapes_column_width=80, header=None, top_level_events_only=False, time_unit=None):
        """torch's profiler table: one row per event (sorted by ``sort_by``, descending, e.g.
        ``"cpu_time_total"``, ``"self_cpu_time_total"``, ``"count"``, ``"cpu_memory_usage"``), at most
        ``row_limit`` rows, and the total self CPU time below."""
        rows = list(self)
        if top_level_events_only:
            rows = [e for e in rows if getattr(e, "cpu_parent", None) is None]
        if sort_by is not None:
            if not rows or not hasattr(rows[0], sort_by):
                known = ("cpu_time_total", "self_cpu_time_total", "cpu_time", "count", "cpu_memory_usage",
                         "self_cpu_memory_usage", "cuda_time_total", "self_cuda_time_total", "device_time_total",
                         "self_device_time_total")
                if sort_by not in known:
                    raise ValueError(f"table: sort_by={sort_by!r} is not an event attribute; use one of {known}")
            rows.sort(key=lambda e: getattr(e, sort_by), reverse=True)
        if time_unit not in (None, "s", "ms", "us"):
            raise ValueError(f"table: time_unit must be 's', 'ms', 'us' or None, got {time_unit!r}")
        total_self = sum(e.self_cpu_time_total for e in self) or 1.0
        if row_limit is not None and row_limit > 0:
            rows = rows[:row_limit]
        mem = self._profile_memory
        shapes = self._record_shapes and any(getattr(e, "input_shapes", None) for e in rows)
        cols = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
        if mem:
            cols += ["CPU Mem", "Self CPU Mem"]
        cols += ["# of Calls"]
        if shapes:
            cols += ["Input Shapes"]
        body = []
        for e in rows:
            name = e.key if len(e.key) <= max_name_column_width else e.key[:max_name_column_width - 3] + "..."
            r = [name, f"{100 * e.self_cpu_time_total / total_self:.2f}%", _fmt_time(e.self_cpu_time_total, time_unit),
                 f"{100 * e.cpu_time_total / total_self:.2f}%", _fmt_time(e.cpu_time_total, time_unit),
                 _fmt_time(e.cpu_time, time_unit)]
            if mem:
                r += [_fmt_mem(e.cpu_memory_usage), _fmt_mem(e.self_cpu_memory_usage)]
            r += [str(e.count)]
            if shapes:
                s = str(e.input_shapes) if e.input_shapes is not None else ""
                r += [s if len(s) <= max_shapes_column_width else s[:max_shapes_column_width - 3] + "..."]
            body.append(r)
        widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(cols)]

        def line(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        sep = "-" * len(line(cols))
        out = []
        if header:
            out.append(header)
        out += [sep, line(cols), sep] + [line(r) for r in body] + [sep]
        out.append(f"Self CPU time total: {_fmt_time(sum(e.self_cpu_time_total for e in self), time_unit)}")
        return "\n".join(out) + "\n"

    def __str__(self):
        return self.table()

    def export_chrome_trace(self, path):
        _write_trace(path, _flatten(self))


def _flatten(events):
    return [e for e in events if isinstance(e, FunctionEvent)] if events and isinstance(events[0], FunctionEvent) \
        else list(events)


def _write_trace(path, events):
    pid = os.getpid()
    trace = []
    for e in events:
        ev = {"ph": "X", "cat": "user_annotation" if e.id < 0 else ("cpu_op" if not e.is_backward else "backward"),
              "name": e.name, "pid": pid, "tid": e.thread, "ts": e.start_us, "dur": e.cpu_time_total,
              "args": {"External id": abs(e.id)}}
        if e.input_shapes:
            ev["args"]["Input Dims"] = e.input_shapes
        trace.append(ev)
    doc = {"schemaVersion": 1, "deviceProperties": [], "traceEvents": trace, "traceName": str(path)}
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".trace-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)  # atomic: a reader never sees half a trace
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------- recording

_ACTIVE: list = []  # running collectors (a profile() recording right now)
_LOCK = threading.Lock()
_PATCHED: dict = {}  # node class -> {attr: original}
_TLS = threading.local()


def _now_us():
    return time.perf_counter_ns() / 1000.0


class _Collector:
    def __init__(self, record_shapes, profile_memory):
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.events = []
        self.next_id = 1

    def open(self, name, shapes=None, backward=False, user=False):
        stack = _stack()
        eid = self.next_id
        self.next_id += 1
        e = FunctionEvent(-eid if user else eid, name, _now_us(), threading.get_ident(), shapes, backward)
        if stack:
            parent = stack[-1]
            e.cpu_parent = parent
            parent.cpu_children.append(e)
        stack.append(e)
        self.events.append(e)
        return e

    def close(self, e, nbytes=0):
        e.end_us = _now_us()
        stack = _stack()
        if stack and stack[-1] is e:
            stack.pop()
        if nbytes:
            e._self_mem += nbytes
            p = e
            while p is not None:
                p.cpu_memory_usage += nbytes
                p = p.cpu_parent


def _stack():
    s = getattr(_TLS, "stack", None)
    if s is None:
        s = _TLS.stack = []
    return s


def _shapes(args):
    from ._tensor import Tensor

    return [list(a.shape) if isinstance(a, Tensor) else [] for a in args]


def _out_bytes(res):
    from ._tensor import Tensor

    n = 0
    for t in res if isinstance(res, tuple) else (res,):
        a = t._data if isinstance(t, Tensor) else t
        if isinstance(a, np.ndarray) and a.base is None:
            n += a.nbytes
    return n


def _timed_call(orig):
    @functools.wraps(orig)
    def __call__(self, *args):
        col = _ACTIVE[-1] if _ACTIVE else None
        if col is None or getattr(_TLS, "node", None) is self:  # a subclass's __call__ calling its parent's
            return orig(self, *args)
        e = col.open("aten::" + self.opname(), _shapes(args) if col.record_shapes else None)
        prev, _TLS.node = getattr(_TLS, "node", None), self
        res = None
        try:
            res = orig(self, *args)
        finally:
            _TLS.node = prev
            col.close(e, _out_bytes(res) if col.profile_memory and res is not None else 0)
        return res

    return __call__


def _timed_backward(orig):
    @functools.wraps(orig)
    def backward(self, ns, g, ins, out):
        col = _ACTIVE[-1] if _ACTIVE else None
        if col is None:
            return orig(self, ns, g, ins, out)
        e = col.open(self.name(), None, backward=True)
        try:
            return orig(self, ns, g, ins, out)
        finally:
            col.close(e)

    return backward


def _node_classes():
    from .autograd.engine import Node

    seen, todo = [], [Node]
    while todo:
        c = todo.pop()
        seen.append(c)
        todo.extend(c.__subclasses__())
    return seen


def _install():
    for cls in _node_classes():
        if cls in _PATCHED:
            continue
        saved = {}
        for attr, wrap in (("__call__", _timed_call), ("backward", _timed_backward)):
            f = cls.__dict__.get(attr)
            if f is not None and callable(f):
                saved[attr] = f
                setattr(cls, attr, wrap(f))
        _PATCHED[cls] = saved


def _uninstall():
    for cls, saved in _PATCHED.items():
        for attr, f in saved.items():
            setattr(cls, attr, f)
    _PATCHED.clear()


def _push(col):
    with _LOCK:
        if not _ACTIVE:
            _install()
        _ACTIVE.append(col)


def _pop(col):
    with _LOCK:
        if col in _ACTIVE:
            _ACTIVE.remove(col)
        if not _ACTIVE:
            _uninstall()


# ---------------------------------------------------------------------------------------------- public API


class record_function:
    """A named range in the profile (context manager or decorator); does nothing when no profiler runs."""

    def __init__(self, name: str, args: str | None = None):
        self.name = name
        self.args = args
        self._event = None
        self._col = None

    def __enter__(self):
        col = _ACTIVE[-1] if _ACTIVE else None
        if col is not None:
            self._col = col
            self._event = col.open(self.name, user=True)
        return self

    def __exit__(self, *exc):
        if self._event is not None:
            self._col.close(self._event)
            self._event = self._col = None
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            with record_function(self.name, self.args):
                return fn(*a, **k)

        return wrapper


class profile:
    """torch.profiler.profile for ember's CPU ops: a context manager (or ``start()``/``stop()``) that times
    op forwards, node backwards and ``record_function`` ranges; ``step()`` advances ``schedule``;
    ``on_trace_ready(prof)`` runs when a scheduled cycle (or the profile) ends."""

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None, record_shapes: bool = False,
                 profile_memory: bool = False, with_stack: bool = False, with_flops: bool = False,
                 with_modules: bool = False, experimental_config=None, execution_trace_observer=None,
                 acc_events: bool = False, use_cuda=None, custom_trace_id_callback=None,
                 post_processing_timeout_s=None):
        acts = set()
        for a in activities if activities is not None else (ProfilerActivity.CPU,):
            if isinstance(a, dict):
                acts.update(a)
            elif isinstance(a, ProfilerActivity):
                acts.add(a)
            else:
                raise TypeError(f"profile: activities must be ProfilerActivity values, got {a!r}")
        if acts - {ProfilerActivity.CPU} or use_cuda:
            other = sorted(a.name for a in acts - {ProfilerActivity.CPU}) or ["CUDA"]
            warnings.warn(f"profile: ember's profiler times CPU ops only; the activities {other} are ignored",
                          stacklevel=2)
        for flag, name in ((with_stack, "with_stack"), (with_flops, "with_flops"), (with_modules, "with_modules")):
            if flag:
                warnings.warn(f"profile: {name}=True is not supported by ember's profiler and is ignored",
                              stacklevel=2)
        self.activities = acts
        self.schedule = schedule
        self.on_trace_ready = on_trace_ready
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.acc_events = acc_events
        self.step_num = 0
        self.current_action = schedule(0) if schedule is not None else ProfilerAction.RECORD
        self._col = None
        self._events = EventList((), profile_memory, record_shapes)
        self._running = False

    # recording state
    def _begin(self):
        if self._col is None:
            self._col = _Collector(self.record_shapes, self.profile_memory)
            _push(self._col)

    def _end(self):
        col, self._col = self._col, None
        if col is not None:
            _pop(col)
            evs = col.events if not self.acc_events else list(self._events) + col.events
            self._events = EventList(evs, self.profile_memory, self.record_shapes)

    def _recording(self, action):
        return action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)

    def start(self):
        self._running = True
        if self._recording(self.current_action):
            self._begin()
        return self

    def stop(self):
        if not self._running:
            return
        self._running = False
        was = self._col is not None
        self._end()
        if was and self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def step(self):
        """Tell the schedule a step (an iteration) ended."""
        if not self._running:
            raise RuntimeError("profile.step(): the profiler is not running; call it inside `with profile(...)`")
        prev = self.current_action
        self.step_num += 1
        self.current_action = self.schedule(self.step_num) if self.schedule is not None else ProfilerAction.RECORD
        if prev == ProfilerAction.RECORD_AND_SAVE:  # a cycle ended: hand it over
            self._end()
            if self.on_trace_ready is not None:
                self.on_trace_ready(self)
        if self._recording(self.current_action):
            self._begin()
        elif self._col is not None:
            self._end()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _check(self, what):
        if self._col is not None:
            raise RuntimeError(f"profile.{what}(): the profile is still recording; call it after the `with` "
                               "block (or after stop())")

    def events(self):
        """All recorded events (``FunctionEvent``s) of the last finished profile/cycle."""
        self._check("events")
        return self._events

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0,
                     group_by_overload_name: bool = False):
        """The events summed per name (and per input shapes with ``group_by_input_shape=True``)."""
        self._check("key_averages")
        if group_by_input_shape and not self.record_shapes:
            raise RuntimeError("key_averages(group_by_input_shape=True) needs profile(record_shapes=True)")
        return self._events.key_averages(group_by_input_shape, group_by_stack_n, group_by_overload_name)

    def export_chrome_trace(self, path: str, use_python_export: bool = False):
        """Write the events as a Chrome trace (open in chrome://tracing or Perfetto); written atomically."""
        self._check("export_chrome_trace")
        _write_trace(path, self._events)

    def export_stacks(self, path: str, metric: str = "self_cpu_time_total"):
        raise NotImplementedError("profile.export_stacks: ember's profiler records no stacks (with_stack)")


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None, use_gzip: bool = False,
                              use_python_export: bool = False):
    """An ``on_trace_ready`` that writes each cycle's trace to ``dir_name/<worker>.<ms>.pt.trace.json``."""
    def handler(prof):
        name = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        path = os.path.join(dir_name, f"{name}.{time.time_ns() // 1_000_000}.pt.trace.json")
        prof.export_chrome_trace(path)
        if use_gzip:
            import gzip
            import shutil

            with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.unlink(path)

    return handler
