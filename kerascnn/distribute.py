"""Distribution strategies and mixed precision for training.

``auto`` picks ``MirroredStrategy`` when more than one GPU is visible, else the default
(single-device) strategy. ``mirrored`` mirrors over every GPU, or over every logical CPU device
when there is no GPU (which is how tests exercise it). ``multiworker`` is
``MultiWorkerMirroredStrategy`` configured from ``TF_CONFIG``.

Keras 3's ``fit`` fails under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585): its
TensorFlow trainer (1) reduces the first distributed batch with ``strategy.reduce`` in eager
mode to build the model symbolically, which cannot convert the multi-worker ``PerReplica``;
(2) reduces scalar step results with ``strategy.reduce("MEAN", v, axis=0)``, an axis a scalar
does not have. :func:`patch_keras_multiworker` fixes both by wrapping the two functions, only
for Keras versions known to carry the bug and only when the strategy really is multi-worker;
every other call goes to Keras' own code.

Example:
    >>> from kerascnn.distribute import make_strategy
    >>> make_strategy("none").num_replicas_in_sync  # doctest: +SKIP
    1
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from kerascnn.errors import UsageError, unknown_name
from kerascnn.train_config import PRECISIONS, STRATEGIES

# Keras releases whose TF trainer has keras-team/keras#20585. Raise the upper bound once a
# release fixes it (tests/test_distributed.py runs the real two-worker job either way).
_MULTIWORKER_BUG_VERSIONS = ((3, 0), (4, 0))


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def keras_has_multiworker_bug(version: str | None = None) -> bool:
    """Whether this Keras version needs :func:`patch_keras_multiworker`.

    Example:
        >>> keras_has_multiworker_bug("3.15.1"), keras_has_multiworker_bug("2.15.0")
        (True, False)
    """
    low, high = _MULTIWORKER_BUG_VERSIONS
    return low <= _version_tuple(version or keras.__version__)[:2] < high


_PATCHED = False


def patch_keras_multiworker() -> bool:
    """Make ``Model.fit`` work under ``MultiWorkerMirroredStrategy`` (keras#20585).

    Idempotent; returns True when the patch is (now) applied, False when this Keras version
    does not need it or its trainer no longer has the patched functions.

    Example:
        >>> patch_keras_multiworker()  # doctest: +SKIP
        True
    """
    global _PATCHED
    if _PATCHED:
        return True
    if not keras_has_multiworker_bug() or keras.backend.backend() != "tensorflow":
        return False
    try:
        from keras.src.backend.tensorflow import trainer as tf_trainer
    except ImportError:  # pragma: no cover - Keras moved its internals
        return False
    needed = ("_collective_all_reduce_multi_worker", "reduce_per_replica")
    if not all(hasattr(tf_trainer, name) for name in needed) or not hasattr(
        tf_trainer.TensorFlowTrainer, "_maybe_symbolic_build"
    ):
        return False  # pragma: no cover - a Keras whose trainer looks different
    is_multi_worker = tf_trainer._collective_all_reduce_multi_worker
    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = tf_trainer.reduce_per_replica

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = getattr(self, "_distribute_strategy", None)
        if iterator is None or strategy is None or not is_multi_worker(strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        # Bug 1: only shapes matter for the symbolic build, so this worker's first local
        # replica batch serves; no cross-worker reduction is needed (or possible eagerly).
        for _, _, batches in iterator:
            batch = next(batches)
            data_batch = tf.nest.map_structure(
                lambda v: (
                    strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v
                ),
                batch,
            )
            break
        return original_build(self, iterator=None, data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            # Bug 2: step results are scalars; average them across replicas, no axis.
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    _PATCHED = True
    return True


def tf_config() -> dict | None:
    """The parsed ``TF_CONFIG`` environment variable, or None when unset.

    Example:
        >>> tf_config()  # doctest: +SKIP
        {'cluster': {'worker': ['127.0.0.1:2222', '127.0.0.1:2223']}, 'task': {...}}
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except ValueError:
        raise UsageError("TF_CONFIG is not valid JSON") from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise UsageError("TF_CONFIG needs 'cluster' and 'task' entries")
    return config


def is_chief() -> bool:
    """True on the worker that writes files: the ``chief`` task, or worker 0 when the
    cluster has no chief, or any process without ``TF_CONFIG``.

    Example:
        >>> is_chief()  # doctest: +SKIP
        True
    """
    config = tf_config()
    if config is None:
        return True
    task = config.get("task", {})
    task_type, index = task.get("type"), int(task.get("index", 0))
    if task_type == "chief":
        return True
    has_chief = bool(config.get("cluster", {}).get("chief"))
    return task_type == "worker" and index == 0 and not has_chief


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Build the distribution strategy named ``name`` (see the module docstring).

    Example:
        >>> make_strategy("auto")  # doctest: +SKIP
        <tensorflow.python.distribute.distribute_lib._DefaultDistributionStrategy ...>
    """
    if name not in STRATEGIES:
        raise unknown_name("strategy", name, STRATEGIES)
    if name == "multiworker":
        # Must come before anything initializes TensorFlow's runtime (listing logical
        # devices does): collective ops are configured at start-up.
        if tf_config() is None:
            raise UsageError(
                "--strategy multiworker needs TF_CONFIG describing the cluster and this task, "
                'e.g. {"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
                '"task": {"type": "worker", "index": 0}}'
            )
        patch_keras_multiworker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "none" or (name == "auto" and len(gpus) <= 1):
        return tf.distribute.get_strategy()
    if gpus:
        return tf.distribute.MirroredStrategy()
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=cpus or None)


def strategy_name(strategy) -> str:
    """A readable name: MultiWorkerMirroredStrategy, MirroredStrategy or default.

    Example:
        >>> strategy_name(tf.distribute.get_strategy())  # doctest: +SKIP
        'default'
    """
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "MirroredStrategy"
    return "default"


def resolve_precision(name: str = "auto") -> str:
    """The dtype policy for ``name``: ``auto`` is mixed_bfloat16 on GPUs with compute
    capability >= 8.0, mixed_float16 on >= 7.0, float32 otherwise (CPU included).

    Example:
        >>> resolve_precision("float32")
        'float32'
    """
    if name not in PRECISIONS:
        raise unknown_name("precision", name, PRECISIONS)
    if name != "auto":
        return name
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability", (0, 0))))
    if not capabilities:
        return "float32"
    weakest = min(capabilities)
    if weakest >= (8, 0):
        return "mixed_bfloat16"
    if weakest >= (7, 0):
        return "mixed_float16"
    return "float32"
