"""JSON (row / columnar) predict bodies <-> NumPy arrays, with TF Serving's exact rules.

Mirrors ``tensorflow_serving/util/json_tensor.cc`` (the tensor half; its tf.Example half is
``json_example``): dtypes come from the signature (the JSON carries none), ``{"b64": ...}``
fills string tensors, ragged lists are refused with TF Serving's messages, floats are written
with six significant digits unless that loses precision, and string outputs whose name ends in
``_bytes`` come back base64-encoded.

Example:
    >>> import numpy as np
    >>> from kerascnn.server.jsonparse import parse
    >>> doc = parse(b'{"instances": [[1, 2], [3, 4]]}')
    >>> arrays, fmt = predict_request_from_json(doc, {"x": 1})  # 1 is DT_FLOAT
    >>> arrays["x"].dtype, arrays["x"].shape, fmt
    (dtype('float32'), (2, 2), 'row')
"""

from __future__ import annotations

import base64
import math
import re

import numpy as np
from tensorflow.core.framework import types_pb2

from kerascnn.server.dtypes import NUMPY_DTYPE, dtype_name
from kerascnn.server.jsonparse import (
    JsonObject,
    as_bytes,
    debug_string,
    escape_string,
    format_double,
    is_string,
    type_name,
)
from kerascnn.server.jsonwrite import PrettyWriter
from kerascnn.server.status import ServingError, invalid

MAX_RANK = 254  # TensorShape::MaxDimensions()
_INT32 = (-(2**31), 2**31 - 1)
_RANGES = {
    types_pb2.DT_INT32: _INT32,
    types_pb2.DT_INT16: _INT32,
    types_pb2.DT_INT8: _INT32,
    types_pb2.DT_UINT8: _INT32,
    types_pb2.DT_INT64: (-(2**63), 2**63 - 1),
    types_pb2.DT_UINT32: (0, 2**32 - 1),
    types_pb2.DT_UINT64: (0, 2**64 - 1),
}
_FLOATS = (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE)


# ---------------------------------------------------------------------------------------------
# JSON -> arrays


def _type_error(value, dtype) -> ServingError:
    return invalid(
        f"JSON Value: {debug_string(value)} Type: {type_name(value)} "
        f"is not of expected type: {dtype_name(dtype)}"
    )


def is_b64_object(value) -> bool:
    """``{"b64": "<string>"}`` and nothing else.

    Example:
        >>> from kerascnn.server.jsonparse import parse
        >>> is_b64_object(parse(b'{"b64": "aGk="}')), is_b64_object(parse(b'{"b64": 1}'))
        (True, False)
    """
    return isinstance(value, JsonObject) and len(value) == 1 and is_string(value.get("b64"))


_BASE64_SPACE = b" \t\n\v\f\r"  # absl::ascii_isspace
_BASE64_DATA = re.compile(rb"[A-Za-z0-9+/]*")
_BASE64_PADDING = {0: 0, 2: 2, 3: 1}  # data characters mod 4 -> the padding that may follow


def absl_base64_decode(text: bytes) -> bytes | None:
    """``absl::Base64Unescape``, which TF Serving decodes ``{"b64": ...}`` with; None if invalid.

    Whitespace anywhere is skipped (tools wrap base64 at 76 columns); padding is optional but,
    when present, must be exactly right, and may be ``=`` or ``.``; nothing but whitespace and
    padding may follow the padding.

    Example:
        >>> absl_base64_decode(b"aGVs bG8=\\n"), absl_base64_decode(b"aGk")
        (b'hello', b'hi')
        >>> absl_base64_decode(b"aGk==") is None
        True
    """
    compact = text.translate(None, _BASE64_SPACE)
    data = compact.rstrip(b"=.")
    pads = len(compact) - len(data)
    expected = _BASE64_PADDING.get(len(data) % 4)
    if expected is None or pads not in (0, expected) or not _BASE64_DATA.fullmatch(data):
        return None
    return base64.b64decode(data + b"=" * (-len(data) % 4))


def decode_b64_object(value) -> bytes:
    """Decode ``{"b64": ...}`` with absl's rules (see :func:`absl_base64_decode`).

    Example:
        >>> from kerascnn.server.jsonparse import parse
        >>> decode_b64_object(parse(b'{"b64": "aGk"}'))
        b'hi'
    """
    if not is_b64_object(value):
        raise invalid(f"JSON Value: {debug_string(value)} not formatted correctly for base64 data")
    decoded = absl_base64_decode(as_bytes(value.get("b64")))
    if decoded is None:
        raise invalid("Unable to base64 decode")
    return decoded


def _check_scalar(value, dtype):
    """Validate one JSON scalar against a dtype (AddValueToTensor); return the Python value."""
    if dtype in _FLOATS:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        raise _type_error(value, dtype)
    if dtype == types_pb2.DT_STRING:
        if is_string(value):
            return as_bytes(value)
        if isinstance(value, JsonObject):
            return decode_b64_object(value)
        raise _type_error(value, dtype)
    if dtype == types_pb2.DT_BOOL:
        if value is True or value is False:
            return value
        raise _type_error(value, dtype)
    bounds = _RANGES.get(dtype)
    if bounds is None:
        raise ServingError(
            "UNIMPLEMENTED",
            f"Conversion of JSON Value: {debug_string(value)} to type: {dtype_name(dtype)}",
        )
    if isinstance(value, int) and not isinstance(value, bool) and bounds[0] <= value <= bounds[1]:
        return value
    raise _type_error(value, dtype)


def dense_shape(value) -> list[int]:
    """TF Serving's GetDenseTensorShape: follow the first element of each nested list.

    Example:
        >>> dense_shape([[1, 2, 3], [4]])  # ragged: fill_values refuses it later
        [2, 3]
    """
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def fill_values(value, shape: list[int], dtype: int) -> list:
    """FillTensorProto without recursion: check every level and return the flat values.

    Example:
        >>> fill_values([[1, 2], [3, 4]], [2, 2], 3)  # 3 is DT_INT32
        [1, 2, 3, 4]
        >>> fill_values([[1, 2], [3]], [2, 2], 3)
        Traceback (most recent call last):
        ...
        kerascnn.server.status.ServingError: Encountered list at unexpected size: 1 at level: 1 expected size: 2
    """
    rank = len(shape)
    if rank > MAX_RANK:
        raise invalid(f"Shape has {rank} dimensions, more than the maximum of {MAX_RANK}")
    flat: list = []
    stack = [(value, 0)]
    while stack:
        val, level = stack.pop()
        if not isinstance(val, list):
            if level != rank:
                raise invalid(
                    f"JSON Value: {debug_string(val)} found at incorrect level: {level + 1} "
                    f"in the JSON DOM. Expected at level: {rank}"
                )
            if isinstance(val, JsonObject) and dtype != types_pb2.DT_STRING:
                raise _type_error(val, dtype)
            flat.append(_check_scalar(val, dtype))
            continue
        if level >= rank:
            raise invalid(f"Encountered list at unexpected level: {level} expected < {rank}")
        if len(val) != shape[level]:
            raise invalid(
                f"Encountered list at unexpected size: {len(val)} at level: {level} "
                f"expected size: {shape[level]}"
            )
        stack.extend((v, level + 1) for v in reversed(val))
    return flat


def to_array(flat: list, shape, dtype: int) -> np.ndarray:
    """Flat checked values -> an array of the signature's dtype.

    Example:
        >>> to_array([1, 2, 3, 4], [2, 2], 1)  # 1 is DT_FLOAT
        array([[1., 2.],
               [3., 4.]], dtype=float32)
    """
    np_dtype = NUMPY_DTYPE.get(dtype)
    if np_dtype is None:
        raise ServingError("UNIMPLEMENTED", f"Conversion to type: {dtype_name(dtype)}")
    if dtype == types_pb2.DT_STRING:
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
    elif dtype in _FLOATS or dtype == types_pb2.DT_HALF:
        with np.errstate(over="ignore", under="ignore"):
            arr = np.array(flat, dtype=np.float64).astype(np_dtype)
    elif dtype in (types_pb2.DT_INT8, types_pb2.DT_INT16, types_pb2.DT_UINT8):
        arr = np.array(flat, dtype=np.int64).astype(np_dtype)  # int_val is narrowed like TF
    else:
        arr = np.array(flat, dtype=np_dtype)
    return arr.reshape(shape)


_NUMBER_TYPES = {int, float}


def _fast_array(item, shape, dtype):
    """C-speed conversion of a regular nested list of plain values; None when unsure.

    Anything unusual (ragged lists, mixed or out-of-range values, strings, objects) returns
    None, and the exact element-by-element walk then produces TF Serving's error or result.
    """
    if not shape or dtype not in _RANGES and dtype not in _FLOATS and dtype != types_pb2.DT_BOOL:
        return None  # strings, and dtypes TF Serving cannot fill from JSON (half, uint16)
    try:
        arr = np.array(item, dtype=object)
    except (ValueError, TypeError):
        return None
    if arr.shape != tuple(shape):
        return None
    flat = arr.reshape(-1)
    kinds = set(map(type, flat))
    try:
        if dtype in _FLOATS:
            if not kinds <= _NUMBER_TYPES:
                return None
            with np.errstate(over="ignore", under="ignore"):
                return arr.astype(np.float64).astype(NUMPY_DTYPE[dtype])
        if dtype == types_pb2.DT_BOOL:
            return arr.astype(np.bool_) if kinds == {bool} else None
        if kinds != {int}:
            return None
        low, high = _RANGES[dtype]
        if flat.size and (min(flat) < low or max(flat) > high):
            return None
        wide = np.uint64 if dtype == types_pb2.DT_UINT64 else np.int64
        return arr.astype(wide).astype(NUMPY_DTYPE[dtype])
    except (OverflowError, ValueError, TypeError, KeyError):
        return None


def _instance_item(item, dtype):
    """One JSON value -> (shape, array of the signature's dtype)."""
    shape = dense_shape(item)
    arr = _fast_array(item, shape, dtype)
    if arr is None:
        arr = to_array(fill_values(item, shape, dtype), shape, dtype)
    return shape, arr


def predict_request_from_json(doc, input_dtypes: dict[str, int]):
    """``instances`` or ``inputs`` of a parsed predict body -> ({alias: array}, "row"|"columnar").

    ``input_dtypes`` maps each signature input alias to its DataType enum (in the signature's
    order). Raises ServingError with TF Serving's messages.

    Example:
        >>> from kerascnn.server.jsonparse import parse
        >>> predict_request_from_json(parse(b'{"inputs": [1, 2]}'), {"x": 3})[0]["x"]
        array([1, 2], dtype=int32)
    """
    instances = doc.get("instances")
    inputs = doc.get("inputs")
    if instances is not None and inputs is not None:
        raise invalid(
            f"JSON Value: {debug_string(doc)} Not formatted correctly expecting only one of "
            "'inputs' or 'instances' keys to exist "
        )
    names = list(input_dtypes)
    if instances is not None:
        if not isinstance(instances, list):
            raise invalid(
                f"JSON Value: {debug_string(doc)} Expecting 'instances' to be an list/array"
            )
        if not instances:
            raise invalid(f"JSON Value: {debug_string(doc)} No values in 'instances' array")
        return _from_instances(instances, input_dtypes), "row"
    if inputs is not None:
        return _from_inputs(inputs, input_dtypes, names), "columnar"
    raise invalid("Missing 'inputs' or 'instances' key")


def _from_instances(instances: list, input_dtypes: dict[str, int]):
    if not isinstance(instances[0], JsonObject) and len(input_dtypes) > 1:
        raise invalid(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )

    def is_element_object(v):
        return isinstance(v, JsonObject) and not is_b64_object(v)

    objects = is_element_object(instances[0])
    input_names = sorted(input_dtypes)
    sizes: dict[str, int] = {}
    shapes: dict[str, list[int]] = {}
    values: dict[str, list] = {}

    def add(item, name, index):
        if name not in input_dtypes:
            raise invalid(f"JSON object: does not have named input: {name}")
        shape, arr = _instance_item(item, input_dtypes[name])
        if name not in sizes:
            sizes[name] = arr.size
            shapes[name] = shape
        elif sizes[name] != arr.size:
            raise invalid(f"Expecting tensor size: {sizes[name]} but got: {arr.size}")
        elif shapes[name] != shape:
            raise invalid(
                f"Expecting shape [{','.join(map(str, shapes[name]))}] but got: "
                f"[{','.join(map(str, shape))}]"
            )
        values.setdefault(name, []).append(arr)

    for index, elem in enumerate(instances):
        if objects:
            if not is_element_object(elem):
                raise invalid(f"Expecting object but got list at item {index} of input list")
            seen = []
            for key, item in elem.members:
                name = key.decode("utf-8", "replace")
                if name in seen:
                    raise invalid(
                        f"Failed to process element: {index} key: {name} of 'instances' list. "
                        f"Error: INVALID_ARGUMENT: JSON object has duplicate key: {name}"
                    )
                seen.append(name)
                try:
                    add(item, name, index)
                except ServingError as exc:
                    raise invalid(
                        f"Failed to process element: {index} key: {name} of 'instances' list. "
                        f"Error: {exc.to_string()}"
                    ) from None
            if sorted(seen) != input_names:
                raise invalid(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{debug_string(elem)} keys must be equal to: {','.join(input_names)}"
                )
        else:
            if is_element_object(elem):
                raise invalid(f"Expecting value/list but got object at item {index} of input list")
            try:
                add(elem, next(iter(input_dtypes)), index)
            except ServingError as exc:
                raise invalid(
                    f"Failed to process element: {index} of 'instances' list. "
                    f"Error: {exc.to_string()}"
                ) from None
    count = len(instances)
    arrays = {}
    for name, rows in values.items():
        arrays[name] = np.stack(rows).reshape([count, *shapes[name]])
    return arrays


def _from_inputs(inputs, input_dtypes, names):
    if not isinstance(inputs, JsonObject) or is_b64_object(inputs):
        if len(input_dtypes) > 1:
            raise invalid(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        name = names[0]
        return {name: _instance_item(inputs, input_dtypes[name])[1]}
    arrays = {}
    for name in names:
        if name not in inputs:
            raise invalid(f"Missing named input: {name} in 'inputs' object.")
        item = inputs.get(name)
        arrays[name] = _instance_item(item, input_dtypes[name])[1]
    return arrays


def signature_name_from_json(doc) -> str:
    """The optional ``signature_name`` of a request body ('' when absent).

    Example:
        >>> from kerascnn.server.jsonparse import parse
        >>> signature_name_from_json(parse(b'{"signature_name": "serving_pixels"}'))
        'serving_pixels'
    """
    value = doc.get("signature_name")
    if value is None:
        return ""
    if not is_string(value):
        raise invalid(
            f"JSON Value: {debug_string(doc)} not formatted correctly. 'signature_name' key "
            "must be a string value."
        )
    return as_bytes(value).decode("utf-8", "replace")

# ---------------------------------------------------------------------------------------------
# arrays -> JSON


class _B64(bytes):
    """A string value to be written as ``{"b64": ...}``."""


def format_values(arr: np.ndarray, as_bytes: bool) -> list[bytes]:
    """Every element of ``arr`` formatted as TF Serving writes it (floats: WriteDecimal).

    Example:
        >>> format_values(np.array([0.1, 2.0], np.float32), False)
        [b'0.1', b'2.0']
    """
    flat = arr.reshape(-1)
    kind = arr.dtype.kind
    if arr.dtype == np.float32 or arr.dtype == np.float16:
        out = []
        for v in flat.tolist():
            if math.isfinite(v):
                text = f"{v:.6g}"
                if np.float32(float(text)) != np.float32(v):
                    text = f"{v:.9g}"
                if "." not in text and "e" not in text:
                    text += ".0"
            else:
                text = format_double(v)
            out.append(text.encode())
        return out
    if kind == "f":
        return [format_double(v).encode() for v in flat.tolist()]
    if kind == "b":
        return [b"true" if v else b"false" for v in flat.tolist()]
    if kind in "iu":
        return [str(v).encode() for v in flat.tolist()]
    if kind in "OSU":
        out = []
        for v in flat.tolist():
            if isinstance(v, str):
                v = v.encode()
            out.append(_B64(base64.b64encode(v)) if as_bytes else escape_string(v))
        return out
    raise invalid(f"Failed to write JSON value for tensor type: {arr.dtype}")


def _write_value(writer: PrettyWriter, value: bytes):
    if isinstance(value, _B64):
        writer.start_object()
        writer.key("b64")
        writer.raw(b'"' + bytes(value) + b'"')
        writer.end_object()
    else:
        writer.raw(value)


def _write_nested(writer: PrettyWriter, values: list, shape: tuple, start: int) -> int:
    """TF Serving's AddTensorValues: nested arrays for ``shape``; returns the next offset."""
    if not shape:
        _write_value(writer, values[start])
        return start + 1
    if len(shape) == 1 and not any(isinstance(v, _B64) for v in values[start : start + 1]):
        writer.raw_array(values[start : start + shape[0]])
        return start + shape[0]
    writer.start_array()
    for _ in range(shape[0]):
        start = _write_nested(writer, values, shape[1:], start)
    writer.end_array()
    return start


def is_bytes_output(name: str, arr: np.ndarray) -> bool:
    """TF Serving's IsNamedTensorBytes: a string tensor whose alias ends in ``_bytes``.

    Example:
        >>> is_bytes_output("image_bytes", np.array([b"x"], object))
        True
    """
    return arr.dtype.kind in "OSU" and name.endswith("_bytes")


def as_output_array(value) -> np.ndarray:
    """An output as an array: TensorFlow hands a scalar string tensor back as plain ``bytes``.

    Example:
        >>> as_output_array(b"hi").shape, as_output_array(b"hi").dtype
        ((), dtype('O'))
    """
    if isinstance(value, (bytes, str)):
        scalar = np.empty((), dtype=object)
        scalar[()] = value
        return scalar
    return np.asarray(value)


def predict_response_to_json(outputs: dict[str, np.ndarray], fmt: str) -> bytes:
    """Write ``{"predictions": ...}`` (row) or ``{"outputs": ...}`` (columnar), byte for byte
    as TF Serving's MakeJsonFromTensors (RapidJSON PrettyWriter, single-line rows).

    Example:
        >>> import numpy as np
        >>> text = predict_response_to_json({"y": np.array([2.5, 3.0], np.float32)}, "row")
        >>> text.decode().splitlines()
        ['{', '    "predictions": [2.5, 3.0', '    ]', '}']
    """
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    outputs = {name: as_output_array(value) for name, value in outputs.items()}
    names = sorted(outputs)
    values = {n: format_values(outputs[n], is_bytes_output(n, outputs[n])) for n in names}
    multi = len(names) > 1
    w = PrettyWriter()
    w.start_object()
    if fmt == "row":
        batch = None
        for name in names:
            arr = outputs[name]
            if arr.ndim == 0:
                raise invalid(f"Tensor name: {name} has no shape information ")
            if batch is not None and arr.shape[0] != batch:
                raise invalid(
                    f"Tensor name: {name} has inconsistent batch size: {arr.shape[0]} "
                    f"expecting: {batch}"
                )
            batch = arr.shape[0]
        offsets = dict.fromkeys(names, 0)
        w.key("predictions")
        w.start_array()
        for _ in range(batch):
            if multi:
                w.start_object()
            w.single_line_arrays = True
            for name in names:
                if multi:
                    w.key(name)
                offsets[name] = _write_nested(
                    w, values[name], outputs[name].shape[1:], offsets[name]
                )
            w.single_line_arrays = False
            if multi:
                w.end_object()
        w.end_array()
    else:
        w.key("outputs")
        if multi:
            w.start_object()
        for name in names:
            if multi:
                w.key(name)
            _write_nested(w, values[name], outputs[name].shape, 0)
        if multi:
            w.end_object()
    w.end_object()
    return w.getvalue()


def error_to_json(message: str) -> bytes:
    """``{"error": message}`` as TF Serving's MakeJsonFromStatus writes it.

    Example:
        >>> print(error_to_json('Bad key: "key"').decode())
        {
            "error": "Bad key: \\"key\\""
        }
    """
    w = PrettyWriter()
    w.start_object()
    w.key("error")
    w.string(message.encode("utf-8", "replace"))
    w.end_object()
    return w.getvalue()

