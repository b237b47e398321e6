"""The Classify and Regress REST bodies: tf.Examples from JSON in, results as JSON out.

Mirrors the tf.Example half of ``tensorflow_serving/util/json_tensor.cc``
(``FillClassificationRequestFromJson``, ``FillRegressionRequestFromJson``,
``MakeJsonFromClassificationResult``, ``MakeJsonFromRegressionResult``): a JSON list becomes a
feature's value list, its kind (bytes, float, int64) fixed by its first element; ``{"b64": ...}``
is bytes; results are written with the same float formatting as predict responses.

Example:
    >>> from kerascnn.server.jsonparse import parse
    >>> inp = examples_from_json(parse(b'{"examples": [{"x": 1.5, "tag": "a"}]}'), "classify")
    >>> feature = inp.example_list.examples[0].features.feature
    >>> list(feature["x"].float_list.value), list(feature["tag"].bytes_list.value)
    ([1.5], [b'a'])
"""

from __future__ import annotations

import numpy as np

from kerascnn.server.json_tensor import decode_b64_object, format_values, is_b64_object
from kerascnn.server.jsonparse import NULL, JsonObject, as_bytes, debug_string, is_string, type_name
from kerascnn.server.jsonwrite import PrettyWriter
from kerascnn.server.status import invalid


def examples_from_json(doc, method: str):
    """``examples`` (+ optional ``context``) -> tensorflow_serving.apis.Input proto.

    Example:
        >>> from kerascnn.server.jsonparse import parse
        >>> examples_from_json(parse(b'{"instances": []}'), "classify")
        Traceback (most recent call last):
        ...
        kerascnn.server.status.ServingError: JSON Value: {
            "instances": []
        } When method is classify, key 'examples' is expected and was not found
    """
    from tensorflow_serving.apis import input_pb2

    inp = input_pb2.Input()
    context = doc.get("context")
    has_context = context is not None
    if has_context:
        _example_from_json(context, inp.example_list_with_context.context)
    examples = doc.get("examples")
    if examples is None:
        raise invalid(
            f"JSON Value: {debug_string(doc)} When method is {method}, key 'examples' is "
            "expected and was not found"
        )
    if not isinstance(examples, list):
        raise invalid(
            f"JSON Value: {debug_string(doc)} Expecting 'examples' value to be an list/array"
        )
    if not examples:
        raise invalid(f"JSON Value: {debug_string(doc)} 'examples' value is an empty array")
    for value in examples:
        target = (
            inp.example_list_with_context.examples.add()
            if has_context
            else inp.example_list.examples.add()
        )
        _example_from_json(value, target)
    return inp


def _example_from_json(value, example):
    if not isinstance(value, JsonObject):
        raise invalid(f"Example must be JSON object but got JSON {type_name(value)}")
    for key, content in value.members:
        name = key.decode("utf-8", "replace")
        feature = example.features.feature[name]
        feature.Clear()
        for item in content if isinstance(content, list) else [content]:
            _add_feature_value(item, name, feature)


def _kind_ok(feature, kind):
    current = feature.WhichOneof("kind")
    return current is None or current == kind


def _kind_error(name, feature):
    kind = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}.get(
        feature.WhichOneof("kind"), "UNKNOWN"
    )
    return invalid(f"Unexpected element type in feature: {name} expecting type: {kind}")


def _add_feature_value(val, name, feature):
    if (
        val is NULL
        or isinstance(val, list)
        or (isinstance(val, JsonObject) and not is_b64_object(val))
    ):
        raise invalid(f"Feature: {name} has element with unexpected JSON type: {type_name(val)}")
    if val is True or val is False:
        if not _kind_ok(feature, "int64_list"):
            raise _kind_error(name, feature)
        feature.int64_list.value.append(1 if val else 0)
    elif isinstance(val, JsonObject):
        if not _kind_ok(feature, "bytes_list"):
            raise _kind_error(name, feature)
        feature.bytes_list.value.append(decode_b64_object(val))
    elif is_string(val):
        if not _kind_ok(feature, "bytes_list"):
            raise _kind_error(name, feature)
        feature.bytes_list.value.append(as_bytes(val))
    elif isinstance(val, float):
        if not _kind_ok(feature, "float_list"):
            raise _kind_error(name, feature)
        feature.float_list.value.append(val)
    else:
        if not _kind_ok(feature, "int64_list"):
            raise _kind_error(name, feature)
        if val > 2**63 - 1:
            raise invalid(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        feature.int64_list.value.append(val)


def classification_result_to_json(result) -> bytes:
    """``{"results": [[[label, score], ...], ...]}`` (MakeJsonFromClassificationResult).

    Example:
        >>> from tensorflow_serving.apis import classification_pb2
        >>> result = classification_pb2.ClassificationResult()
        >>> _ = result.classifications.add().classes.add(label="cat", score=0.5)
        >>> print(classification_result_to_json(result).decode())
        {
            "results": [[["cat", 0.5]]
            ]
        }
    """
    if not result.classifications:
        raise invalid("Cannot convert empty ClassificationResults to JSON")
    w = PrettyWriter()
    w.start_object()
    w.key("results")
    w.start_array()
    for classifications in result.classifications:
        w.single_line_arrays = True
        w.start_array()
        for c in classifications.classes:
            w.start_array()
            w.string(c.label.encode())
            w.raw(format_values(np.array([c.score], np.float32), False)[0])
            w.end_array()
        w.end_array()
        w.single_line_arrays = False
    w.end_array()
    w.end_object()
    return w.getvalue()


def regression_result_to_json(result) -> bytes:
    """``{"results": [v, ...]}`` (MakeJsonFromRegressionResult).

    Example:
        >>> from tensorflow_serving.apis import regression_pb2
        >>> result = regression_pb2.RegressionResult()
        >>> _ = result.regressions.add(value=1.5)
        >>> regression_result_to_json(result).decode().splitlines()[1].strip()
        '"results": [1.5]'
    """
    if not result.regressions:
        raise invalid("Cannot convert empty RegressionResults to JSON")
    values = format_values(np.array([r.value for r in result.regressions], np.float32), False)
    w = PrettyWriter()
    w.start_object()
    w.key("results")
    w.single_line_arrays = True
    w.raw_array(values)
    w.end_object()
    return w.getvalue()

