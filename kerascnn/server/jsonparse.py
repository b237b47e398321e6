"""A JSON reader and writer that behave like the RapidJSON setup inside TF Serving.

Python's :mod:`json` differs from TF Serving's parser in ways a client can see, so the REST API
reads bodies with this module instead. It follows RapidJSON as TF Serving configures it
(``kParseIterativeFlag | kParseNanAndInfFlag | kParseStopWhenDoneFlag``):

* ``NaN``, ``Inf``, ``Infinity`` (optionally negative) are numbers;
* parsing stops after the first complete value, so trailing bytes are ignored;
* duplicate object keys are all kept and a lookup finds the FIRST one;
* nesting depth is unlimited (the parser is iterative, never recursive);
* numbers remember whether they were written as integers: ``1`` fills an int tensor, ``1.0``
  does not; integers too large for 64 bits become doubles;
* strings are bytes (no UTF-8 validation), raw control characters are rejected;
* errors read ``<RapidJSON message> at offset: N``.

Example:
    >>> doc = parse(b'{"a": 1, "a": 2} trailing')
    >>> doc.get("a")
    1
"""

from __future__ import annotations

import math
import re

__all__ = ["JsonObject", "JsonParseError", "parse", "type_name", "debug_string"]


class JsonParseError(Exception):
    """RapidJSON's message and byte offset."""

    def __init__(self, message: str, offset: int):
        super().__init__(f"{message} at offset: {offset}")
        self.message = message
        self.offset = offset


class JsonObject:
    """An object whose members keep their order and duplicates; ``get`` returns the first."""

    __slots__ = ("members", "_first")

    def __init__(self):
        self.members: list[tuple[bytes, object]] = []
        self._first: dict[bytes, object] = {}

    def add(self, key: bytes, value):
        self.members.append((key, value))
        self._first.setdefault(key, value)

    def get(self, key, default=None):
        if isinstance(key, str):
            key = key.encode()
        return self._first.get(key, default)

    def __contains__(self, key):
        if isinstance(key, str):
            key = key.encode()
        return key in self._first

    def __len__(self):
        return len(self.members)

    def keys(self):
        return [k for k, _ in self.members]

    def __repr__(self):
        return f"JsonObject({self.members!r})"


class Null:
    """JSON null (kept distinct from a missing value)."""

    def __repr__(self):
        return "null"


NULL = Null()

_WS = re.compile(rb"[ \t\n\r]*")
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_PLAIN_STRING = re.compile(rb'[^"\\\x00-\x1f]*')
_ESCAPES = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

_EMPTY = "The document is empty."
_INVALID = "Invalid value."
_MISS_NAME = "Missing a name for object member."
_MISS_COLON = "Missing a colon after a name of object member."
_MISS_COMMA_OBJ = "Missing a comma or '}' after an object member."
_MISS_COMMA_ARR = "Missing a comma or ']' after an array element."


def _parse_number(data: bytes, pos: int):
    """Return (value, end). Integers stay int (RapidJSON's Int/Int64/Uint64), others float."""
    neg = data[pos : pos + 1] == b"-"
    rest = pos + 1 if neg else pos
    for word, value in ((b"NaN", math.nan), (b"Infinity", math.inf), (b"Inf", math.inf)):
        if data.startswith(word, rest):
            if value is math.nan:
                return value, rest + len(word)
            return (-value if neg else value), rest + len(word)
    m = _NUMBER.match(data, pos)
    if m is None:
        raise JsonParseError(_INVALID, rest)
    end = m.end()
    text = m.group(0)
    # RapidJSON's own errors for "1." and "1e".
    if data[end : end + 1] == b"." and m.group(1) is None and m.group(2) is None:
        raise JsonParseError("Missing fraction part in number.", end + 1)
    if data[end : end + 1] in (b"e", b"E") and m.group(2) is None:
        raise JsonParseError("Missing exponent in number.", end + 1)
    if m.group(1) is None and m.group(2) is None:
        if len(text) > 21:  # beyond 64 bits (and maybe Python's int-from-string digit limit)
            value = float(text)
            if math.isinf(value):
                raise JsonParseError("Number too big to be stored in double.", pos)
            return value, end
        value = int(text)
        if _INT64_MIN <= value <= _UINT64_MAX:
            return value, end
        try:
            return float(value), end
        except OverflowError:  # beyond double range: RapidJSON's error, not a crash (500)
            raise JsonParseError("Number too big to be stored in double.", pos) from None
    value = float(text)
    if math.isinf(value):
        raise JsonParseError("Number too big to be stored in double.", pos)
    return value, end


def _parse_string(data: bytes, pos: int):
    """``pos`` is just after the opening quote; return (bytes, end after closing quote)."""
    m = _PLAIN_STRING.match(data, pos)
    end = m.end()
    if data[end : end + 1] == b'"':
        return data[pos:end], end + 1
    out = bytearray(data[pos:end])
    i = end
    n = len(data)
    while True:
        if i >= n:
            raise JsonParseError("Missing a closing quotation mark in string.", i)
        c = data[i]
        if c == 0x22:
            return bytes(out), i + 1
        if c == 0x5C:
            if i + 1 >= n:
                raise JsonParseError("Invalid escape character in string.", i + 1)
            e = data[i + 1]
            if e in _ESCAPES:
                out += _ESCAPES[e]
                i += 2
                continue
            if e != ord("u"):
                raise JsonParseError("Invalid escape character in string.", i + 1)
            code, i = _hex4(data, i + 2)
            if 0xD800 <= code <= 0xDBFF:
                if data[i : i + 2] != b"\\u":
                    raise JsonParseError("The surrogate pair in string is invalid.", i)
                low, j = _hex4(data, i + 2)
                if not 0xDC00 <= low <= 0xDFFF:
                    raise JsonParseError("The surrogate pair in string is invalid.", i)
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                i = j
            out += chr(code).encode("utf-8", "surrogatepass")
            continue
        if c < 0x20:
            if c == 0:
                raise JsonParseError("Missing a closing quotation mark in string.", i)
            raise JsonParseError("Invalid encoding in string.", i)
        m = _PLAIN_STRING.match(data, i)
        out += data[i : m.end()]
        i = m.end()


def _hex4(data: bytes, pos: int):
    chunk = data[pos : pos + 4]
    try:
        if len(chunk) != 4:
            raise ValueError
        return int(chunk, 16), pos + 4
    except ValueError:
        raise JsonParseError("Incorrect hex digit after \\u escape in string.", pos) from None


def _pairs(pairs):
    obj = JsonObject()
    for key, value in pairs:
        obj.add(key.encode("utf-8", "surrogatepass"), value)
    return obj


def _int(text):
    if len(text) > 21:
        raise ValueError("beyond 64 bits")  # the exact parser decides (double or error)
    value = int(text)
    if _INT64_MIN <= value <= _UINT64_MAX:
        return value
    return float(value)


def _float(text):
    value = float(text)
    if math.isinf(value):
        raise ValueError("too big")  # RapidJSON refuses it: let the exact parser say so
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_CONSTANTS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _fast(data: bytes):
    """Python's C parser, when it gives exactly RapidJSON's answer; else None."""
    import json

    if b"\\u" in data and _SURROGATE_ESCAPE.search(data):
        return None  # Python keeps lone surrogates that RapidJSON refuses
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_pairs,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_CONSTANTS.__getitem__,
        )
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None  # trailing bytes, errors, deep nesting, "Inf", bad UTF-8: parse exactly


def parse(data: bytes):
    """Parse the first JSON value in ``data`` (trailing bytes ignored), RapidJSON style.

    Returns Python values: JsonObject, list, str/bytes (strings), int, float, bool, NULL.
    Well-formed documents go through Python's C parser (with hooks that keep duplicate keys,
    RapidJSON's number kinds and its constants); anything else through the exact parser below,
    which also produces RapidJSON's error messages. String values may come back as ``str``
    (from the fast path) or ``bytes``; :func:`as_bytes` gives the bytes either way.

    Example:
        >>> parse(b"[1, 2.0, NaN]")
        [1, 2.0, nan]
    """
    if isinstance(data, str):
        data = data.encode()
    if data[:1] in (b"{", b"[") or data[:1].isspace():
        fast = _fast(data)
        if fast is not None:
            return _nulls(fast) if b"null" in data else fast
    return _parse_exact(data)


def _nulls(value):
    """Python's None -> NULL, without recursion (only where None can occur)."""
    if value is None:
        return NULL
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            for i, item in enumerate(v):
                if item is None:
                    v[i] = NULL
                elif isinstance(item, (list, JsonObject)):
                    stack.append(item)
        elif isinstance(v, JsonObject):
            for i, (k, item) in enumerate(v.members):
                if item is None:
                    v.members[i] = (k, NULL)
                    if v._first.get(k, NULL) is None:
                        v._first[k] = NULL
                elif isinstance(item, (list, JsonObject)):
                    stack.append(item)
    return value


def as_bytes(value) -> bytes:
    """A parsed JSON string as bytes (``str`` values are UTF-8 encoded).

    Example:
        >>> as_bytes("é")
        b'\xc3\xa9'
    """
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return value


def is_string(value) -> bool:
    """Whether a parsed value is a JSON string."""
    return isinstance(value, (bytes, str))


def _parse_member_name(data: bytes, pos: int):
    """An object member's ``"name" :`` at ``pos``: the name, and the position after the colon."""
    if data[pos : pos + 1] != b'"':
        raise JsonParseError(_MISS_NAME, pos)
    key, pos = _parse_string(data, pos + 1)
    pos = _WS.match(data, pos).end()
    if data[pos : pos + 1] != b":":
        raise JsonParseError(_MISS_COLON, pos)
    return key, pos + 1


def _parse_exact(data: bytes):
    n = len(data)
    pos = _WS.match(data, 0).end()
    if pos >= n:
        raise JsonParseError(_EMPTY, pos)
    # Explicit stack of open containers: (container, pending_key or None)
    stack: list = []
    while True:
        pos = _WS.match(data, pos).end()
        if pos >= n:
            raise JsonParseError(_INVALID, pos)
        c = data[pos]
        # Read one value (or open a container).
        if c == 0x7B:  # {
            obj = JsonObject()
            pos = _WS.match(data, pos + 1).end()
            if data[pos : pos + 1] == b"}":
                value, pos = obj, pos + 1
            else:
                key, pos = _parse_member_name(data, pos)
                stack.append([obj, key])
                continue
        elif c == 0x5B:  # [
            arr: list = []
            pos = _WS.match(data, pos + 1).end()
            if data[pos : pos + 1] == b"]":
                value, pos = arr, pos + 1
            else:
                stack.append([arr, None])
                continue
        elif c == 0x22:
            value, pos = _parse_string(data, pos + 1)
        elif c == 0x74 and data.startswith(b"true", pos):
            value, pos = True, pos + 4
        elif c == 0x66 and data.startswith(b"false", pos):
            value, pos = False, pos + 5
        elif c == 0x6E and data.startswith(b"null", pos):
            value, pos = NULL, pos + 4
        elif c == 0x2D or 0x30 <= c <= 0x39 or c in (0x4E, 0x49):  # - digit N I
            value, pos = _parse_number(data, pos)
        else:
            raise JsonParseError(_INVALID, pos)
        # Attach the finished value to its parent and close containers as far as possible.
        while True:
            if not stack:
                return value  # kParseStopWhenDoneFlag: whatever follows is ignored
            top = stack[-1]
            container = top[0]
            is_array = isinstance(container, list)
            if is_array:
                container.append(value)
            else:
                container.add(top[1], value)
            pos = _WS.match(data, pos).end()
            nxt = data[pos : pos + 1]
            if nxt == (b"]" if is_array else b"}"):
                stack.pop()
                value, pos = container, pos + 1
                continue
            if nxt != b",":
                raise JsonParseError(_MISS_COMMA_ARR if is_array else _MISS_COMMA_OBJ, pos)
            pos += 1
            if not is_array:
                top[1], pos = _parse_member_name(data, _WS.match(data, pos).end())
            break


def type_name(value) -> str:
    """RapidJSON's type name for a parsed value (used in TF Serving's messages).

    Example:
        >>> type_name(b"x"), type_name(1.5), type_name(True)
        ('String', 'Number', 'True')
    """
    if value is True:
        return "True"
    if value is False:
        return "False"
    if value is NULL:
        return "Null"
    if isinstance(value, JsonObject):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, (bytes, str)):
        return "String"
    return "Number"


def escape_string(value: bytes) -> bytes:
    """JSON-quote bytes the way RapidJSON's writer does (no UTF-8 validation)."""
    out = bytearray(b'"')
    for ch in value:
        if ch == 0x22:
            out += b'\\"'
        elif ch == 0x5C:
            out += b"\\\\"
        elif ch < 0x20:
            out += {8: b"\\b", 9: b"\\t", 10: b"\\n", 12: b"\\f", 13: b"\\r"}.get(
                ch, b"\\u%04X" % ch
            )
        else:
            out.append(ch)
    out += b'"'
    return bytes(out)


def format_double(value: float, digits: int = 17) -> str:
    """A double as TF Serving's WriteDecimal writes it (6 significant digits when exact)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = f"{value:.6g}"
    if float(text) != value:
        text = f"{value:.{digits}g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def debug_string(value, limit: int = 256) -> str:
    """TF Serving's JsonValueToDebugString: pretty JSON, single-line arrays, ~256 bytes.

    Example:
        >>> debug_string([1, [2, 3]])
        '[1, [2, 3]]'
    """
    out: list[str] = []
    size = [0]

    def emit(text):
        out.append(text)
        size[0] += len(text)

    def write(v, indent):
        if size[0] >= limit:
            return
        if isinstance(v, JsonObject):
            if not v.members:
                emit("{}")
                return
            emit("{")
            for i, (k, item) in enumerate(v.members):
                if size[0] >= limit:
                    return
                emit(("," if i else "") + "\n" + "    " * (indent + 1))
                emit(escape_string(k).decode("utf-8", "replace") + ": ")
                write(item, indent + 1)
            emit("\n" + "    " * indent + "}")
        elif isinstance(v, list):
            emit("[")
            for i, item in enumerate(v):
                if size[0] >= limit:
                    return
                if i:
                    emit(", ")
                write(item, indent)
            emit("]")
        elif isinstance(v, (bytes, str)):
            emit(escape_string(as_bytes(v)).decode("utf-8", "replace"))
        elif v is True:
            emit("true")
        elif v is False:
            emit("false")
        elif v is NULL:
            emit("null")
        elif isinstance(v, float):
            emit(_raw_double(v))
        else:
            emit(str(v))

    # Deeply nested values would recurse too far; show only the first levels then.
    try:
        write(value, 0)
    except RecursionError:
        pass
    return "".join(out)


def _raw_double(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "-Infinity" if v < 0 else "Infinity"
    text = repr(v)
    return text
