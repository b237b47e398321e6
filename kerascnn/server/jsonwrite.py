"""RapidJSON's PrettyWriter, as TF Serving drives it, so answers match byte for byte.

TF Serving writes REST answers with ``rapidjson::PrettyWriter`` (4-space indent) and switches
``kFormatSingleLineArray`` on and off while writing rows. This class reproduces the writer's
prefix/indent rules so the same calls give the same bytes.

Example:
    >>> w = PrettyWriter()
    >>> w.start_object(); w.key("outputs"); w.raw_array([b"1", b"2"]); w.end_object()
    >>> w.getvalue()
    b'{\\n    "outputs": [\\n        1,\\n        2\\n    ]\\n}'
"""

from __future__ import annotations

from kerascnn.server.jsonparse import escape_string


class PrettyWriter:
    """A minimal rapidjson::PrettyWriter: objects, arrays, keys and pre-formatted values."""

    def __init__(self):
        self._out: list[bytes] = []
        self._levels: list[list] = []  # [in_array, value_count]
        self.single_line_arrays = False

    def getvalue(self) -> bytes:
        return b"".join(self._out)

    def _indent(self) -> bytes:
        return b"    " * len(self._levels)

    def _prefix(self):
        if not self._levels:
            return
        level = self._levels[-1]
        out = self._out
        if level[0]:  # in an array
            if level[1] > 0:
                out.append(b", " if self.single_line_arrays else b",")
            if not self.single_line_arrays:
                out.append(b"\n" + self._indent())
        else:
            if level[1] > 0:
                out.append(b",\n" if level[1] % 2 == 0 else b": ")
            else:
                out.append(b"\n")
            if level[1] % 2 == 0:
                out.append(self._indent())
        level[1] += 1

    def raw(self, text: bytes):
        """A scalar already formatted as JSON."""
        self._prefix()
        self._out.append(text)

    def string(self, value: bytes):
        self.raw(escape_string(value))

    def key(self, name: str | bytes):
        self.string(name.encode() if isinstance(name, str) else name)

    def start_object(self):
        self._prefix()
        self._out.append(b"{")
        self._levels.append([False, 0])

    def end_object(self):
        empty = self._levels.pop()[1] == 0
        if not empty:
            self._out.append(b"\n" + self._indent())
        self._out.append(b"}")

    def start_array(self):
        self._prefix()
        self._out.append(b"[")
        self._levels.append([True, 0])

    def end_array(self):
        empty = self._levels.pop()[1] == 0
        if not empty and not self.single_line_arrays:
            self._out.append(b"\n" + self._indent())
        self._out.append(b"]")

    def raw_array(self, values: list[bytes]):
        """An array of pre-formatted scalars (fast path for the common case)."""
        self._prefix()
        if not values:
            self._out.append(b"[]")
            return
        if self.single_line_arrays:
            self._out.append(b"[" + b", ".join(values) + b"]")
            return
        inner = b"\n" + b"    " * (len(self._levels) + 1)
        outer = b"\n" + self._indent()
        self._out.append(b"[" + inner + (b"," + inner).join(values) + outer + b"]")
