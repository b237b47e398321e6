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


class NamedChoice(click.Choice):
    """``click.Choice`` whose refusal suggests the nearest name, as the Python API does.

    ``--help`` and shell completion list the choices; ``--optimizer adamm`` answers
    ``Invalid value for '--optimizer': unknown optimizer 'adamm' (did you mean 'adam'?)``.

    Example:
        >>> NamedChoice(["sgd", "adam"], kind="optimizer").convert("adam", None, None)
        'adam'
    """

    def __init__(self, choices, *, kind: str, case_sensitive: bool = False):
        super().__init__(list(choices), case_sensitive=case_sensitive)
        self.kind = kind

    def convert(self, value, param, ctx):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            from kerascnn.errors import unknown_name

            self.fail(str(unknown_name(self.kind, str(value), self.choices)), param, ctx)


def model_choice() -> NamedChoice:
    """The registered model names as a choice (the registry is TensorFlow-free to list)."""
    from kerascnn.architectures import list_models

    return NamedChoice(list_models(), kind="model")


def select_device(spec: str | None) -> None:
    """Make ``--device`` hold before TensorFlow loads: ``cpu`` hides every GPU, ``0`` or
    ``0,1`` keeps those GPUs (``CUDA_VISIBLE_DEVICES``), and asking for GPUs this machine does
    not have is one clear error instead of a silent run on the CPU.

    Example:
        >>> select_device(None)  # the default: every device TensorFlow finds
    """
    if spec is None:
        return
    import os
    import re
    import sys

    text = spec.strip().lower().replace(" ", "")
    if text == "cpu":
        visible = "-1"
    elif re.fullmatch(r"\d+(,\d+)*", text):
        visible = text
    else:
        raise click.BadParameter(f"{spec!r} is not cpu, a GPU index (0) or a list (0,1)")
    if "tensorflow" in sys.modules and os.environ.get("CUDA_VISIBLE_DEVICES") != visible:
        raise click.BadParameter("TensorFlow is already loaded; --device comes too late")
    os.environ["CUDA_VISIBLE_DEVICES"] = visible
    if visible == "-1":
        return
    import tensorflow as tf

    found = len(tf.config.list_physical_devices("GPU"))
    wanted = len(visible.split(","))
    if found < wanted:
        raise click.BadParameter(
            f"GPU {visible} asked for, but TensorFlow sees {found} GPU(s) here "
            "(kerascnn checks lists them; --device cpu runs on the CPU)"
        )


def _device_callback(ctx, param, value):
    try:
        select_device(value)
    except click.BadParameter as exc:
        exc.param = param
        raise
    return value


device_option = click.option(
    "--device",
    default=None,
    is_eager=True,
    expose_value=False,
    callback=_device_callback,
    metavar="cpu|0|0,1",
    help="Run on the CPU, or on these GPUs (set before TensorFlow loads) [default: all].",
)


weights_option = click.option(
    "--weights",
    default=None,
    metavar="imagenet|TAG|FILE",
    help="For a registered model name: pretrained weights (imagenet, a tag such as tv_in1k or "
    "keras, or a .safetensors / .h5 / .pth file) [default: random weights].",
)
