"""Dynamic batching with TF Serving's ``batching_parameters``.

Concurrent requests for the same model version and signature are queued as *tasks*; tasks are
packed into batches of at most ``max_batch_size`` rows, a batch is run when it is full or when
``batch_timeout_micros`` has passed since its first task arrived, on one of
``num_batch_threads`` threads. Inputs are concatenated along dimension 0 (padded up to the next
``allowed_batch_sizes`` entry by repeating the first row, and, with
``pad_variable_length_inputs``, padded in the other dimensions with each tensor's first element),
the model runs once, and the outputs are split back. Like TF Serving's shared batch scheduler:

* a task larger than ``max_batch_size`` fails with ``Task size N is larger than maximum input
  batch size M`` (unless ``enable_large_batch_splitting`` is on, then it is split);
* when ``max_enqueued_batches`` batches are already waiting, a task that does not fit the open
  batch fails with UNAVAILABLE (HTTP 503).

Example:
    >>> import numpy as np
    >>> from kerascnn.server.config import BatchingOptions
    >>> b = Batcher(lambda x: {"y": x["x"] * 2}, BatchingOptions(max_batch_size=4,
    ...             num_batch_threads=1))
    >>> b.run({"x": np.ones((2, 1), np.float32)})["y"].tolist()
    [[2.0], [2.0]]
    >>> b.stop()
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from kerascnn.server.status import ServingError, as_serving_error, invalid

QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"


class _Task:
    """One request's rows waiting in a batch. ``done`` is a lock held from creation and
    released by the batch thread: one primitive where an Event would build a Condition and a
    lock for every request."""

    __slots__ = ("inputs", "size", "done", "result", "error", "enqueued")

    def __init__(self, inputs, size):
        self.inputs = inputs
        self.size = size
        self.done = threading.Lock()
        self.done.acquire()
        self.result = None
        self.error = None
        self.enqueued = time.monotonic()

    def finish(self):
        self.done.release()

    def wait(self):
        self.done.acquire()


class _Batch:
    __slots__ = ("tasks", "size", "opened")

    def __init__(self):
        self.tasks: list[_Task] = []
        self.size = 0
        self.opened = time.monotonic()


class Batcher:
    """Queue + batch threads for one (model version, signature)."""

    def __init__(self, run_fn: Callable[[dict], dict], options, *, metrics=None, label=""):
        self.run_fn = run_fn
        self.options = options
        self.metrics = metrics
        self.label = label or options.thread_pool_name
        self._cond = threading.Condition()
        self._queue: deque[_Batch] = deque()
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"batch-{label}-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for t in self._threads:
            t.start()

    # -- submitting ----------------------------------------------------------------------
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one request through the batch queue; blocks until its rows come back."""
        sizes = {int(a.shape[0]) if a.ndim else -1 for a in inputs.values()}
        if -1 in sizes:
            raise invalid("Batching session Run() input tensors must have at least one dimension")
        if len(sizes) != 1:
            raise invalid("Batching session Run() input tensors must have equal 0th-dimension size")
        size = sizes.pop()
        limit = self.options.max_batch_size
        if size > limit:
            if not self.options.enable_large_batch_splitting:
                raise invalid(f"Task size {size} is larger than maximum input batch size {limit}")
            pieces = [
                self.run({k: v[i : i + limit] for k, v in inputs.items()})
                for i in range(0, size, limit)
            ]
            return {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
        task = _Task(inputs, size)
        if self.metrics:
            self.metrics.observe_input_batch_size(self.label, size)
        with self._cond:
            if self._stopped:
                raise ServingError("UNAVAILABLE", "Batch scheduler is shutting down")
            last = self._queue[-1] if self._queue else None
            if last is not None and last.size + size <= limit:
                last.tasks.append(task)
                last.size += size
                # A batch thread already waits for this batch's deadline; wake it early only
                # when the batch is full (one thread hand-off per batch, not per request).
                if last.size >= limit:
                    self._cond.notify()
            else:
                if len(self._queue) >= self.options.max_enqueued_batches:
                    raise ServingError("UNAVAILABLE", QUEUE_FULL)
                batch = _Batch()
                batch.tasks.append(task)
                batch.size = size
                self._queue.append(batch)
                self._cond.notify()
        task.wait()
        if task.error is not None:
            raise task.error
        return task.result

    def stop(self):
        """Finish queued batches, then end the threads."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=30)

    # -- batch threads -------------------------------------------------------------------
    def _next_batch(self) -> _Batch | None:
        timeout = self.options.batch_timeout_micros / 1e6
        limit = self.options.max_batch_size
        with self._cond:
            while True:
                if self._queue:
                    head = self._queue[0]
                    wait = head.opened + timeout - time.monotonic()
                    if head.size >= limit or wait <= 0 or len(self._queue) > 1 or self._stopped:
                        batch = self._queue.popleft()
                        if self._queue:  # another thread takes over the next batch's deadline
                            self._cond.notify()
                        return batch
                    self._cond.wait(wait)
                elif self._stopped:
                    return None
                else:
                    self._cond.wait()

    def _loop(self):
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._process(batch)
            except BaseException as exc:  # never let a batch thread die
                err = as_serving_error(exc)
                for task in batch.tasks:  # none is finished yet: _process finishes last
                    task.error = err
                    task.finish()

    def _process(self, batch: _Batch):
        now = time.monotonic()
        tasks = batch.tasks
        names = list(tasks[0].inputs)
        for task in tasks[1:]:
            if set(task.inputs) != set(names):
                raise invalid("Batched tasks have different input tensor names")
        total = batch.size
        padded = total
        for allowed in self.options.allowed_batch_sizes:
            if allowed >= total:
                padded = allowed
                break
        if self.metrics:
            self.metrics.observe_queuing_latencies(
                self.label, [(now - task.enqueued) * 1e6 for task in tasks]
            )
            self.metrics.observe_batch(self.label, padded, padded - total)
        merged = {}
        for name in names:
            parts = [t.inputs[name] for t in tasks]
            shapes = {p.shape[1:] for p in parts}
            if len(shapes) > 1:
                if not self.options.pad_variable_length_inputs:
                    raise invalid(
                        f"Tensors with name '{name}' from different tasks have different "
                        "shapes and padding is turned off. Set pad_variable_length_inputs to "
                        "true, or ensure that all tensors with the same name have equal "
                        "dimensions starting with the first dim."
                    )
                parts = _pad_to_common(parts)
            if padded > total:
                first = parts[0][:1]
                parts = [*parts, np.repeat(first, padded - total, axis=0)]
            merged[name] = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        outputs = self.run_fn(merged)
        offset = 0
        for task in tasks:
            task.result = {}
            for key, value in outputs.items():
                if value.ndim == 0 or value.shape[0] != padded:
                    raise invalid(
                        f"Batched output tensor '{key}' has 0th-dimension size "
                        f"{value.shape[0] if value.ndim else 0}; expected {padded}"
                    )
                task.result[key] = value[offset : offset + task.size]
            offset += task.size
        for task in tasks:
            task.finish()


def _pad_to_common(parts: list[np.ndarray]) -> list[np.ndarray]:
    ranks = {p.ndim for p in parts}
    if len(ranks) != 1:
        raise invalid("Tensors from different tasks have different ranks")
    target = np.max(np.array([p.shape for p in parts]), axis=0)
    out = []
    for p in parts:
        pad = [(0, 0)] + [(0, int(t) - s) for t, s in zip(target[1:], p.shape[1:])]
        if any(b for _, b in pad):
            fill = p.reshape(-1)[0] if p.size else 0
            p = np.pad(p, pad, mode="constant", constant_values=fill)
        out.append(p)
    return out
