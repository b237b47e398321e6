"""Small helpers shared by the CLI verbs; nothing here imports TensorFlow."""

from __future__ import annotations

import click

from kerascnn.arithmetic import image_shape


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """Parse ``"64,64,3"`` (or ``64x64x3``) into ``(64, 64, 3)``; None stays None.

    Example:
        >>> parse_shape("32x32x1")
        (32, 32, 1)
    """
    if text is None:
        return None
    shape = image_shape(text)
    if shape is None:
        raise click.BadParameter(f"{text!r} is not a shape like 64,64,3 (height,width,channels)")
    return shape


class ShapeType(click.ParamType):
    """Click type for ``--input-shape 64,64,3``."""

    name = "H,W,C"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return parse_shape(value)
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)


SHAPE = ShapeType()
