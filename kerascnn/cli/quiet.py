"""Keep TensorFlow's start-up chatter out of a CLI user's terminal.

TensorFlow 2.21 writes several lines to file descriptor 2 before its own logging is set up
("All log messages before absl::InitializeLog()...", oneDNN and CUDA-stub notices, a cuInit
error on machines without a GPU driver), so ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them. We put
a pipe in front of fd 2 and forward every line except those known notices. Anything else,
including real errors, passes through untouched.

Example:
    >>> from kerascnn.cli.quiet import is_tensorflow_noise
    >>> is_tensorflow_noise(b"I0000 00:00:1.5  88 cudart_stub.cc:31] Could not find cuda drivers")
    True
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

# Whether fd 2 is a terminal, read before filter_stderr() puts its pipe there: progress bars
# (predict's) ask this instead of the pipe.
STDERR_IS_TERMINAL = os.isatty(2)

# Glog-style prefix (severity, date, time, thread, file:line) of the notices we drop.
_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IWE]\d{4} [\d:.]+\s+\d+ (port\.cc|cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc"
    rb"|cpu_feature_guard\.cc|cuda_dnn\.cc|cuda_fft\.cc|cuda_blas\.cc)[:\]].*"
    rb"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\."
    # oneDNN's note that uint8 kernels fall back to Eigen on CPUs without AVX-512 (results are
    # identical); printed mid-epoch, it used to break the progress bar.
    rb"|[IWE]\d{4} [\d:.]+\s+\d+ util\.cc:\d+\] oneDNN supports DT_UINT8 only on platforms with AVX-512.*"
    # A tf.data graph written by a newer runtime than the op registry knows about (harmless).
    rb"|[IWE]\d{4} [\d:.]+\s+\d+ \S+\.cc:\d+\] .*NodeDef mentions attribute use_unbounded_threadpool.*"
    # gRPC core's own line for a port it cannot bind; kerascnn says the same in one clear line.
    rb"|[IWE]\d{4} [\d:.]+\s+\d+ (add_port|chttp2_server)\.cc:\d+\] .*)$"
)


def is_tensorflow_noise(line: bytes) -> bool:
    """True for a start-up notice TensorFlow prints that tells a CLI user nothing."""
    return bool(_NOISE.match(line.rstrip(b"\r\n")))


def filter_stderr() -> None:
    """Route fd 2 through a filter thread that drops TensorFlow's start-up notices.

    A no-op when ``KERASCNN_DEBUG`` is set, so nothing is hidden while debugging.
    """
    if os.environ.get("KERASCNN_DEBUG"):
        return
    try:
        sys.stderr.flush()
        real_stderr = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return

    def forward():
        with os.fdopen(read_end, "rb", buffering=0) as source:
            pending = b""
            while True:
                chunk = source.read(65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                kept = b"".join(ln + b"\n" for ln in lines if not is_tensorflow_noise(ln))
                # A partial line (a progress bar's \r update) is forwarded at once.
                if pending and b"\r" in pending:
                    kept, pending = kept + pending, b""
                if kept:
                    os.write(real_stderr, kept)
            if pending and not is_tensorflow_noise(pending):
                os.write(real_stderr, pending)

    thread = threading.Thread(target=forward, name="kerascnn-stderr-filter", daemon=True)
    thread.start()

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(real_stderr, 2)  # closes the pipe's last write end: the thread drains and ends
        thread.join(timeout=2)

    atexit.register(restore)
