"""Where a run's numbers came from: the library versions and the kerascnn git commit.

``config.yaml`` stores them under ``meta`` so a run can be reproduced or explained later.
TensorFlow and Keras are imported only when :func:`library_versions` is called, so this
module itself stays cheap to import.

Example:
    >>> sorted(library_versions())  # doctest: +SKIP
    ['keras', 'kerascnn', 'numpy', 'python', 'tensorflow']
"""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

from kerascnn import __version__


def library_versions() -> dict:
    """Versions of the libraries that decide a run's numbers.

    Example:
        >>> library_versions()["tensorflow"]  # doctest: +SKIP
        '2.21.0'
    """
    import keras
    import numpy as np
    import tensorflow as tf

    return {
        "kerascnn": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def git_commit() -> str | None:
    """The commit of the kerascnn source tree (``+dirty`` when modified), if it is a git repo.

    Example:
        >>> commit = git_commit()
        >>> commit is None or len(commit.removesuffix("+dirty")) == 40
        True
    """
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "."],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def run_metadata(**extra) -> dict:
    """The ``meta`` section of a run's ``config.yaml``: versions, commit, time, host, ``extra``.

    Example:
        >>> meta = run_metadata(precision="float32")  # doctest: +SKIP
        >>> list(meta)  # doctest: +SKIP
        ['versions', 'git_commit', 'created', 'host', 'precision']
    """
    return {
        "versions": library_versions(),
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        **extra,
    }
