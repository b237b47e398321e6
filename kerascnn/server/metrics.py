"""Prometheus metrics with TF Serving's names, served at the monitoring path.

TF Serving's exporter turns ``/tensorflow/serving/request_count`` into
``:tensorflow:serving:request_count`` and writes counters without a ``_total`` suffix. The
metrics are kept in a ``prometheus_client`` registry through a custom collector so the sample
names match TF Serving's exactly.

Example:
    >>> m = Metrics()
    >>> m.record_request("mnist", "OK", api="predict", entrypoint="REST", micros=1200)
    >>> ':tensorflow:serving:request_count{model_name="mnist",status="OK"} 1.0' in m.render()
    True
"""

from __future__ import annotations

import bisect
import re
import threading
import time
from collections import defaultdict

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import HistogramMetricFamily, Metric


def _exponential(scale, growth, count):
    return [scale * growth**i for i in range(count)]


# TF Serving's buckets: request/runtime latency Exponential(10, 1.8, 33) microseconds;
# queuing latency Exponential(100, 1.2, 52); batch sizes powers of two.
LATENCY_BUCKETS = _exponential(10, 1.8, 33)
QUEUING_BUCKETS = _exponential(100, 1.2, 52)
SIZE_BUCKETS = [2.0**i for i in range(0, 15)]


class _Histogram:
    def __init__(self, buckets):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value):
        self.sum += value
        # The first bucket whose upper bound is >= value (the last slot is +Inf): a binary
        # search, since this runs several times per request.
        self.counts[bisect.bisect_left(self.buckets, value)] += 1

    def cumulative(self):
        total, out = 0, []
        for bound, c in zip([*self.buckets, float("inf")], self.counts):
            total += c
            out.append(("+Inf" if bound == float("inf") else _fmt(bound), total))
        return out


def _fmt(bound):
    return repr(float(bound)) if bound != int(bound) else str(int(bound))


class Metrics:
    """Thread-safe store of TF Serving's metrics; ``render()`` gives the Prometheus page."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self._histograms: dict[str, dict[tuple, _Histogram]] = defaultdict(dict)
        self._label_names: dict[str, tuple[str, ...]] = {}
        self._help: dict[str, str] = {}
        self._buckets: dict[str, list[float]] = {}
        self._declare_counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ("model_name", "status"),
        )
        self._declare_histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ("model_name", "API", "entrypoint"),
            LATENCY_BUCKETS,
        )
        self._declare_histogram(
            ":tensorflow:serving:runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ("model_name", "API", "runtime"),
            LATENCY_BUCKETS,
        )
        self._declare_histogram(
            ":tensorflow:serving:batching_session:input_batch_size",
            "Tracks the batch size distribution on the inputs by model_name (if available).",
            ("model_name",),
            SIZE_BUCKETS,
        )
        self._declare_histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Tracks the batch size distribution on processing by model_name (if available).",
            ("model_name",),
            SIZE_BUCKETS,
        )
        self._declare_histogram(
            ":tensorflow:serving:batching_session:padding_size",
            "Tracks the padding size distribution on batches by model_name (if available).",
            ("model_name", "execution_batch_size"),
            SIZE_BUCKETS,
        )
        self._declare_histogram(
            ":tensorflow:serving:batching_session:queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing",
            ("thread_pool_name",),
            QUEUING_BUCKETS,
        )
        self._declare_counter(
            ":tensorflow:serving:batching_session:wrapped_run_count",
            "Total count of run calls on the wrapped session",
            (),
        )
        self._declare_histogram(
            ":tensorflow:serving:model_warmup_latency",
            "Distribution of wall time (in microseconds) for warming up the model.",
            ("model_path",),
            LATENCY_BUCKETS,
        )
        self._declare_counter(
            ":tensorflow:serving:model_warmup_records_read",
            "The total number of warmup records read.",
            ("model_path",),
        )
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def _declare_counter(self, name, doc, labels):
        self._help[name] = doc
        self._label_names[name] = labels
        self._counters[name]  # noqa: B018  (creates the empty family)

    def _declare_histogram(self, name, doc, labels, buckets):
        self._help[name] = doc
        self._label_names[name] = labels
        self._buckets[name] = buckets
        self._histograms[name]  # noqa: B018

    def inc(self, name, labels: tuple = (), amount: float = 1.0):
        with self._lock:
            self._counters[name][labels] += amount

    def observe(self, name, labels: tuple, value: float):
        with self._lock:
            family = self._histograms[name]
            hist = family.get(labels)
            if hist is None:
                hist = family[labels] = _Histogram(self._buckets[name])
            hist.observe(value)

    def observe_many(self, name, labels: tuple, values):
        with self._lock:
            family = self._histograms[name]
            hist = family.get(labels)
            if hist is None:
                hist = family[labels] = _Histogram(self._buckets[name])
            for value in values:
                hist.observe(value)

    # -- what the server records -----------------------------------------------------------
    def record_request(self, model_name, status, *, api, entrypoint, micros):
        """One finished request: count by status; latency only for OK (as TF Serving)."""
        self.inc(":tensorflow:serving:request_count", (model_name, status))
        if status == "OK":
            self.observe(
                ":tensorflow:serving:request_latency", (model_name, api, entrypoint), micros
            )

    def record_request_since(self, started, model_name, status, *, api, entrypoint):
        """``record_request`` for a request that began at ``started`` (``time.monotonic()``).

        Example:
            >>> m = Metrics()
            >>> m.record_request_since(time.monotonic(), "m", "OK", api="", entrypoint="REST")
            >>> ':tensorflow:serving:request_count{model_name="m",status="OK"} 1.0' in m.render()
            True
        """
        micros = (time.monotonic() - started) * 1e6
        self.record_request(model_name, status, api=api, entrypoint=entrypoint, micros=micros)

    def record_runtime(self, model_name, api, micros):
        self.observe(":tensorflow:serving:runtime_latency", (model_name, api, "TF1"), micros)

    def observe_input_batch_size(self, model_name, size):
        self.observe(":tensorflow:serving:batching_session:input_batch_size", (model_name,), size)

    def observe_batch(self, model_name, processed, padding):
        self.observe(
            ":tensorflow:serving:batching_session:processed_batch_size", (model_name,), processed
        )
        self.observe(
            ":tensorflow:serving:batching_session:padding_size",
            (model_name, str(processed)),
            padding,
        )
        self.inc(":tensorflow:serving:batching_session:wrapped_run_count")

    def observe_queuing_latency(self, pool, micros):
        self.observe(":tensorflow:serving:batching_session:queuing_latency", (pool,), micros)

    def observe_queuing_latencies(self, pool, micros_list):
        """Every task of one batch under one lock (the batch thread holds it once, not per task).

        Example:
            >>> metrics = Metrics()
            >>> metrics.observe_queuing_latencies("pool", [10.0, 20.0])
        """
        self.observe_many(":tensorflow:serving:batching_session:queuing_latency", (pool,),
                          micros_list)

    def record_warmup(self, model_path, records, micros):
        self.inc(":tensorflow:serving:model_warmup_records_read", (model_path,), records)
        self.observe(":tensorflow:serving:model_warmup_latency", (model_path,), micros)

    # -- prometheus_client collector protocol ---------------------------------------------
    def collect(self):
        with self._lock:
            for name, series in self._counters.items():
                metric = Metric(name, self._help[name], "counter")
                for labels, value in series.items():
                    metric.add_sample(name, dict(zip(self._label_names[name], labels)), value)
                yield metric
            for name, series in self._histograms.items():
                family = HistogramMetricFamily(
                    name, self._help[name], labels=list(self._label_names[name])
                )
                for labels, hist in series.items():
                    family.add_metric(list(labels), hist.cumulative(), hist.sum)
                yield family

    def render(self) -> str:
        """The Prometheus text page (counters named without ``_total``, like TF Serving)."""
        text = generate_latest(self.registry).decode()
        return re.sub(r"^(# (?:HELP|TYPE) \S+?)_total ", r"\1 ", text, flags=re.M)
