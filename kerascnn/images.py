"""Client-side image handling: find image files and normalise images as people have them.

Photos arrive rotated by EXIF, as grayscale, RGBA, palette, CMYK, 16-bit or animated GIFs, and
from Python as NumPy arrays or Pillow images. ``normalize_image`` turns any of them into plain
8-bit ``L`` or ``RGB`` PNG bytes, so the server-side decode is simple and identical for every
target (local, REST, gRPC); ``prepare_image_bytes`` sends a JPEG or PNG that needs none of that
as it is. Nothing here imports TensorFlow.

Example:
    >>> from kerascnn.images import normalize_image
    >>> png = normalize_image("photo.jpg")  # doctest: +SKIP
    >>> png[:4]  # doctest: +SKIP
    b'\\x89PNG'
"""

from __future__ import annotations

import glob
import io
import os
from dataclasses import dataclass
from pathlib import Path

from kerascnn.contract import IMAGE_SUFFIXES
from kerascnn.errors import UsageError

_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


class ImageError(UsageError):
    """One image could not be read; the message names the file."""


def expand_image_sources(items) -> list[str]:
    """Expand files, directories (their image files, sorted) and glob patterns, keeping order.

    A path that does not exist and matches no glob is kept, so the caller reports it as
    missing alongside the answers for the others.

    Example:
        >>> expand_image_sources(["a.png", "digits/", "more/*.jpg"])  # doctest: +SKIP
        ['a.png', 'digits/0.png', 'digits/1.png', 'more/x.jpg']
    """
    found: list[str] = []
    for item in items:
        item = os.fspath(item)
        path = Path(item)
        if path.is_dir():
            found.extend(
                str(p)
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        elif path.exists():
            found.append(item)
        elif glob.has_magic(item):
            found.extend(p for p in sorted(glob.glob(item, recursive=True)) if Path(p).is_file())
        else:
            found.append(item)
    return found


def _to_8bit_gray(image):
    """16-bit / 32-bit / float grayscale -> 8-bit, keeping the high byte like libpng does."""
    import numpy as np
    from PIL import Image

    array = np.asarray(image)
    if image.mode == "F":
        array = np.clip(array, 0, 255).astype("uint8")
    elif image.mode.startswith("I;16") or (image.mode == "I" and array.max(initial=0) > 255):
        array = (np.clip(array, 0, 65535).astype("uint32") >> 8).astype("uint8")
    else:
        array = np.clip(array, 0, 255).astype("uint8")
    return Image.fromarray(array, mode="L")


def array_to_image(array, *, name: str = "<array>"):
    """A NumPy image as an 8-bit Pillow image: ``H x W`` (gray) or ``H x W x C`` with C = 1, 3
    or 4, holding ``uint8`` or any real numbers in 0..255 (not 0..1: scale those first).

    Non-integer values are rounded to the nearest level; anything else (NaN, values outside
    0..255, another shape) is an :class:`ImageError` naming ``name``.

    Example:
        >>> import numpy as np
        >>> array_to_image(np.full((2, 3), 127.6)).getpixel((0, 0))
        128
        >>> array_to_image(np.zeros((4, 4, 3), "uint8")).mode
        'RGB'
        >>> array_to_image(np.ones((4, 4)) * 300)
        Traceback (most recent call last):
        ...
        kerascnn.images.ImageError: <array>: values outside 0..255 (from 300 to 300); scale them to 0..255
    """
    import numpy as np
    from PIL import Image

    array = _checked_array(array, name)
    if array.dtype != np.uint8:
        array = np.rint(array).astype("uint8")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[array.ndim if array.ndim == 2 else array.shape[-1]]
    return Image.fromarray(np.ascontiguousarray(array), mode=mode)


def _checked_array(array, name):
    """``array`` if it is a gray / RGB / RGBA image of numbers in 0..255, else an ImageError."""
    import numpy as np

    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number) or np.issubdtype(
        array.dtype, np.complexfloating
    ):
        raise ImageError(f"{name}: an array of {array.dtype} is not an image (expected numbers 0..255)")
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3, 4))
    if not shape_ok or array.size == 0:
        detail = f"{array.shape[-1]} channels, " if array.ndim == 3 else ""
        raise ImageError(
            f"{name}: an array of shape {array.shape} is not an image ({detail}expected H x W or "
            "H x W x C with C = 1, 3 or 4)"
        )
    if array.dtype == np.uint8:
        return array
    if not np.isfinite(array).all():
        raise ImageError(f"{name}: the array holds NaN or infinite values")
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        raise ImageError(
            f"{name}: values outside 0..255 (from {low:g} to {high:g}); scale them to 0..255"
        )
    return array


def load_image(source, *, name: str | None = None):
    """Open a path, bytes, Pillow image or NumPy array (see :func:`array_to_image`) and return
    an 8-bit ``L`` or ``RGB`` Pillow image; ``name`` is what error messages call it.

    EXIF orientation is applied, an animation gives its first frame, palette/RGBA/CMYK/... become
    RGB (alpha dropped, as the served model's preprocessing does) and 1/16/32-bit grayscale
    becomes 8-bit gray: 16-bit values keep their high byte (scaled, not clipped), as libpng and
    TensorFlow's ``decode_png`` do. This is the project's one image loader (``kerascnn
    visualize`` reads through it too).

    Example:
        >>> load_image("scan.tiff").mode  # doctest: +SKIP
        'L'
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, np.ndarray):
        return _as_8bit(array_to_image(source, name=name or "<array>"))
    if isinstance(source, Image.Image):
        name, stream = name or "<image>", None
    elif isinstance(source, bytes | bytearray):
        name, stream = name or "<bytes>", io.BytesIO(source)
    else:
        name = name or os.fspath(source)
        path = Path(source)
        if not path.exists():
            raise ImageError(f"{name}: no such file")
        if path.is_dir():
            raise ImageError(f"{name}: is a directory, not an image")
        stream = path
    try:
        if stream is None:
            source.load()
            return _as_8bit(source)
        with Image.open(stream) as image:
            image.seek(0)  # animated GIF/WebP/APNG: first frame
            image.load()
            return _as_8bit(image)
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (Pillow cannot identify it)") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: refused, too many pixels ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: cannot read image ({exc})") from None


def _as_8bit(image):
    """A loaded Pillow image, upright, as a new 8-bit ``L`` or ``RGB`` image."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image) or image
    mode = image.mode
    if mode in ("L", "RGB"):
        return image.copy()
    if mode in _GRAY_MODES:
        if mode in ("1", "LA", "La"):
            return image.convert("L")
        return _to_8bit_gray(image)
    if mode == "P" and "transparency" in image.info:
        return image.convert("RGBA").convert("RGB")
    return image.convert("RGB")


def normalize_image(source, *, compress_level: int = 1, name: str | None = None) -> bytes:
    """Return ``source`` (path, bytes, Pillow image or NumPy array) as 8-bit gray or RGB PNG
    bytes, ready to send.

    Example:
        >>> normalize_image(open("cat.jpg", "rb").read())[:8]  # doctest: +SKIP
        b'\\x89PNG\\r\\n\\x1a\\n'
    """
    return _png_bytes(load_image(source, name=name), compress_level)


def _png_bytes(image, compress_level: int = 1) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


# --------------------------------------------------------------------------- what predict sends
_SENT_AS_THEY_ARE = frozenset({"JPEG", "PNG"})
"""Formats an export's in-graph ``decode_image`` reads to the pixels Pillow reads, once the file
is plain 8-bit gray or RGB: such files are sent byte for byte, not decoded and re-encoded."""

_EXIF_ORIENTATION = 0x0112
_PNG_BIT_DEPTH_OFFSET = 24  # signature (8), IHDR length and type (8), width and height (8)


@dataclass(frozen=True)
class ServingImage:
    """One image prepared for a model, and what it was before (for the mismatch warning).

    ``payload`` is encoded bytes (``serving_default``) or float32 ``H x W x C`` pixels
    (``serving_pixels``); ``width``, ``height`` and ``colored`` describe the upright image
    before any resize; ``original`` says the payload is the file's own bytes.
    """

    payload: object
    width: int
    height: int
    colored: bool
    original: bool = False


def prepare_image_bytes(source, *, name: str | None = None) -> ServingImage:
    """``source`` as the encoded bytes to send: a JPEG or PNG file that needs no fixing as it is,
    anything else normalised to PNG (:func:`normalize_image`).

    A file needs fixing when its EXIF orientation is not upright, it is not 8-bit gray or RGB
    (16-bit, palette, CMYK, alpha or a transparent colour) or it is animated: those are where
    TensorFlow's decoder and Pillow's would give the model different pixels. The file is
    still decoded here once (JPEGs at 1/8 scale), so an unreadable one is named on this side.

    Example:
        >>> prepare_image_bytes("photo.jpg").original  # doctest: +SKIP
        True
        >>> prepare_image_bytes("rotated_by_exif.jpg").payload[:4]  # doctest: +SKIP
        b'\\x89PNG'
    """
    if name is None and isinstance(source, str | os.PathLike):
        name = os.fspath(source)
    data = _file_bytes(source, name)
    if data is not None:
        plain = _plain_image(data)
        if plain is not None:
            return plain
        source = data
    image = load_image(source, name=name)
    return ServingImage(_png_bytes(image), *image.size, _looks_colored(image))


def prepare_image_pixels(source, input_shape, *, name: str | None = None) -> ServingImage:
    """``source`` as float32 pixels for ``serving_pixels`` (see :func:`image_to_pixels`).

    Example:
        >>> prepared = prepare_image_pixels("photo.jpg", (32, 32, 3))  # doctest: +SKIP
        >>> prepared.payload.shape, (prepared.width, prepared.height)  # doctest: +SKIP
        ((32, 32, 3), (640, 480))
    """
    import numpy as np
    from PIL import Image

    height, width, channels = input_shape
    if isinstance(source, np.ndarray):
        array = _checked_array(source, name or "<array>")
        if array.ndim == 2:
            array = array[..., None]
        if array.shape == (height, width, channels):
            return ServingImage(array.astype("float32"), width, height, colored=False)
    image = load_image(source, name=name)
    original_size, colored = image.size, _looks_colored(image)
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    array = np.asarray(image, dtype="float32")
    if array.ndim == 2:
        array = array[..., None]
    if channels == 4:
        array = np.concatenate([array, np.full(array.shape[:2] + (1,), 255.0, "float32")], -1)
    return ServingImage(array, *original_size, colored)


def image_to_pixels(source, input_shape, *, name: str | None = None):
    """Pixels for the ``serving_pixels`` signature: float32 ``[H, W, C]`` in 0..255.

    Resized with Pillow's bilinear filter (antialiased when shrinking); the in-graph path of
    ``serving_default`` is the reference, this one can differ by rounding. A NumPy array that
    already has the model's height, width and channels is sent as it is (not rounded to 8 bits).

    Example:
        >>> image_to_pixels("digit.png", (28, 28, 1)).shape  # doctest: +SKIP
        (28, 28, 1)
    """
    return prepare_image_pixels(source, input_shape, name=name).payload


def _file_bytes(source, name) -> bytes | None:
    """The encoded bytes of a path or bytes ``source`` (None for a Pillow image or an array)."""
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    if not isinstance(source, str | os.PathLike):
        return None
    path = Path(source)
    if not path.exists():
        raise ImageError(f"{name}: no such file")
    if path.is_dir():
        raise ImageError(f"{name}: is a directory, not an image")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{name}: cannot read image ({exc})") from None


def _plain_image(data: bytes) -> ServingImage | None:
    """``data`` as it is, when it is a JPEG or PNG that needs no fixing; else None."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if (
                image.format not in _SENT_AS_THEY_ARE
                or image.mode not in ("L", "RGB")
                or getattr(image, "is_animated", False)
                or "transparency" in image.info
                or (image.format == "PNG" and data[_PNG_BIT_DEPTH_OFFSET] != 8)
                or image.getexif().get(_EXIF_ORIENTATION, 1) != 1
            ):
                return None
            width, height = image.size
            if image.format == "JPEG":  # decode at 1/8 scale: all of the data, an 64th of the pixels
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
            return ServingImage(data, width, height, _looks_colored(image), original=True)
    except (OSError, SyntaxError, ValueError, IndexError, Image.DecompressionBombError):
        return None  # load_image reads it again and says what is wrong


# Pixels whose channels spread further apart than this count as coloured: JPEG's chroma noise
# on a gray scan saved as RGB stays well below it.
_COLOR_SPREAD = 24
_COLORED_SHARE = 0.01


def _looks_colored(image) -> bool:
    """Whether an 8-bit image shows colour (not only its mode: gray scans are often saved RGB).

    Example:
        >>> from PIL import Image
        >>> _looks_colored(Image.new("RGB", (8, 8), (90, 90, 90))), _looks_colored(Image.new("RGB", (8, 8), "red"))
        (False, True)
    """
    import numpy as np

    if image.mode != "RGB":
        return False
    thumbnail = image.copy()
    thumbnail.thumbnail((64, 64))
    pixels = np.asarray(thumbnail, dtype="int16")
    spread = pixels.max(axis=-1) - pixels.min(axis=-1)
    return bool((spread > _COLOR_SPREAD).mean() > _COLORED_SHARE)
