"""Which versions of a model are on disk, and which of them its version policy wants served.

Mirrors ``tensorflow_serving/sources/storage_path/file_system_storage_path_source.cc``: a
model's base path holds one all-digit folder per version, and its ``model_version_policy``
(``latest { num_versions }``, default 1; ``all``; ``specific { versions }``) picks the aspired
versions among them. The polling loop that calls these lives in ``server_core``; the folders are
listed by :func:`kerascnn.contract.version_numbers`, the listing export and client use too.
TensorFlow-free.

Example:
    >>> import tempfile
    >>> from kerascnn.contract import version_numbers
    >>> base = Path(tempfile.mkdtemp())
    >>> for name in ("1", "2", "10", "tmp-3"):
    ...     (base / name).mkdir()
    >>> version_numbers(base)
    [1, 2, 10]
"""

from __future__ import annotations

from pathlib import Path


def aspired_versions(policy, on_disk: list[int]) -> list[int]:
    """The versions a ``ServableVersionPolicy`` wants served out of those ``on_disk``.

    Example:
        >>> from tensorflow_serving.config import model_server_config_pb2
        >>> config = model_server_config_pb2.ModelConfig()
        >>> aspired_versions(config.model_version_policy, [3, 1, 2])
        [3]
        >>> config.model_version_policy.specific.versions.extend([1, 2, 7])
        >>> aspired_versions(config.model_version_policy, [3, 1, 2])
        [1, 2]
    """
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return sorted(on_disk)
    if which == "specific":
        return sorted(set(on_disk) & set(policy.specific.versions))
    n = policy.latest.num_versions if which == "latest" else 1
    return sorted(on_disk)[-max(n, 1) :] if on_disk else []


def version_stamp(path: Path) -> tuple:
    """Modification times of a version folder and its saved_model.pb (None when missing).

    A version that failed to load is retried only once its stamp changes (a copy finished,
    a fix landed), not on every poll.

    Example:
        >>> version_stamp(Path("/nonexistent/1"))
        (None, None, None)
    """
    stamps = []
    for p in (path, path / "saved_model.pb", path / "variables"):
        try:
            stamps.append(p.stat().st_mtime_ns)
        except OSError:
            stamps.append(None)
    return tuple(stamps)
