"""Full float32 precision for the tests that compare TensorFlow's convolutions float32-exactly.

On Ampere+ GPUs TensorFlow runs float32 convs in TF32 (~1e-3 relative error) by default; on CPU
asking for full precision changes nothing.

Example:
    @pytest.fixture(autouse=True, scope="module")
    def _full_float32():
        with full_float32():
            yield
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def full_float32():
    """Turn TF32 off for the block, then restore what it was."""
    import tensorflow as tf

    before = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(before)
