"""A SavedModel whose signatures are the tensor maps of TF Serving's own JSON tests.

``tensorflow_serving/util/json_tensor_test.cc`` fills requests against hand-written
``TensorInfo`` maps (a dtype and no shape). ``build_conformance_model`` serves each of those maps
as a signature whose outputs echo its inputs under the same aliases, so a request replayed over
REST comes back as the very tensors TF Serving's parser made of it. Inputs have unknown rank, as
in those tests. Signatures:

* ``int_default`` (``default`` int32), ``float_default``, ``double_default``, ``str_default``
* ``int_tensor_only`` (``int_tensor`` int32), ``str_tensor_only`` (``str_tensor`` string)
* ``multi_two``: ``int_tensor`` int32, ``str_tensor`` string
* ``multi_three``: ``int_tensor`` int32, ``str_tensor`` string, ``bin_tensor`` string
* ``multi_four``: ``int_tensor`` int32, ``str_tensor`` string, ``float_tensor`` float,
  ``dbl_tensor`` double
* ``bytes_echo``: ``str_tensor`` string -> ``str_tensor_bytes`` (written back as base64)
* ``echo_<dtype>`` for every dtype in ``ECHO_DTYPES``: ``x`` -> ``y``
"""

from __future__ import annotations

from pathlib import Path

ECHO_DTYPES = ("float", "double", "half", "int8", "int16", "int32", "int64", "uint8", "uint16",
               "uint32", "uint64", "bool", "string")


def build_conformance_model(path) -> Path:
    """Save the conformance model at ``path`` (a version folder); returns it."""
    import tensorflow as tf

    def echo(**dtypes):
        specs = [tf.TensorSpec(None, getattr(tf, dtype), name=alias)
                 for alias, dtype in dtypes.items()]
        aliases = list(dtypes)

        def run(*tensors):
            return {alias: tf.identity(t) for alias, t in zip(aliases, tensors)}

        return tf.function(run, input_signature=specs)

    module = tf.Module()
    signatures = {
        "int_default": echo(default="int32"),
        "float_default": echo(default="float32"),
        "double_default": echo(default="float64"),
        "str_default": echo(default="string"),
        "int_tensor_only": echo(int_tensor="int32"),
        "str_tensor_only": echo(str_tensor="string"),
        "multi_two": echo(int_tensor="int32", str_tensor="string"),
        "multi_three": echo(int_tensor="int32", str_tensor="string", bin_tensor="string"),
        "multi_four": echo(int_tensor="int32", str_tensor="string", float_tensor="float32",
                           dbl_tensor="float64"),
        "bytes_echo": tf.function(lambda str_tensor: {"str_tensor_bytes": tf.identity(str_tensor)},
                                  input_signature=[tf.TensorSpec(None, tf.string,
                                                                 name="str_tensor")]),
    }
    names = {"float": "float32", "double": "float64", "half": "float16"}
    for dtype in ECHO_DTYPES:
        tf_dtype = getattr(tf, names.get(dtype, dtype))
        signatures[f"echo_{dtype}"] = tf.function(
            lambda x: {"y": tf.identity(x)}, input_signature=[tf.TensorSpec(None, tf_dtype, name="x")]
        )
    concrete = {}
    for key, fn in signatures.items():
        setattr(module, key, fn)
        concrete[key] = fn.get_concrete_function()
    # serving_default too, so the model loads like any export (TF Serving needs no default).
    concrete["serving_default"] = concrete["int_default"]
    path = Path(path)
    tf.saved_model.save(module, str(path), signatures=concrete)
    return path
