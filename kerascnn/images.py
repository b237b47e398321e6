"""Client-side image handling: find image files and normalise images as people have them.

Photos arrive rotated by EXIF, as grayscale, RGBA, palette, CMYK, 16-bit or animated GIFs.
``normalize_image`` turns any of them into plain 8-bit ``L`` or ``RGB`` PNG bytes, so the
server-side decode is simple and identical for every target (local, REST, gRPC). Nothing here
imports TensorFlow.

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


def load_image(source):
    """Open a path, bytes or PIL image and return an 8-bit ``L`` or ``RGB`` Pillow image.

    EXIF orientation is applied, an animation gives its first frame, palette/RGBA/CMYK/... become
    RGB (alpha dropped, as the served model's preprocessing does) and 1/16/32-bit grayscale
    becomes 8-bit gray: 16-bit values keep their high byte (scaled, not clipped), as libpng and
    TensorFlow's ``decode_png`` do. This is the project's one image loader (``kerascnn
    visualize`` reads through it too).

    Example:
        >>> load_image("scan.tiff").mode  # doctest: +SKIP
        'L'
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, Image.Image):
        name, stream = "<image>", None
    elif isinstance(source, bytes | bytearray):
        name, stream = "<bytes>", io.BytesIO(source)
    else:
        name = os.fspath(source)
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


def normalize_image(source, *, compress_level: int = 1) -> bytes:
    """Return ``source`` (path or bytes) as 8-bit gray or RGB PNG bytes, ready to send.

    Example:
        >>> normalize_image(open("cat.jpg", "rb").read())[:8]  # doctest: +SKIP
        b'\\x89PNG\\r\\n\\x1a\\n'
    """
    image = load_image(source)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def image_to_pixels(source, input_shape):
    """Pixels for the ``serving_pixels`` signature: float32 ``[H, W, C]`` in 0..255.

    Resized with Pillow's bilinear filter (antialiased when shrinking); the in-graph path of
    ``serving_default`` is the reference, this one can differ by rounding.

    Example:
        >>> image_to_pixels("digit.png", (28, 28, 1)).shape  # doctest: +SKIP
        (28, 28, 1)
    """
    import numpy as np
    from PIL import Image

    height, width, channels = input_shape
    image = load_image(source)
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    array = np.asarray(image, dtype="float32")
    if array.ndim == 2:
        array = array[..., None]
    if channels == 4:
        array = np.concatenate([array, np.full(array.shape[:2] + (1,), 255.0, "float32")], -1)
    return array
