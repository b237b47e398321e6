"""Classic fixed kernels (blur, sharpen, Laplacian, Sobel) applied by a Keras Conv2D to a photo.

Example:
    >>> from kerascnn.visualize import CLASSIC_KERNELS
    >>> sorted(CLASSIC_KERNELS)[:2]
    ['box blur', 'gaussian blur']
"""

from __future__ import annotations

import numpy as np

from kerascnn.errors import UsageError
from kerascnn.visualize.figure import Picture, new_figure, png_path, save_png, tile_height_for
from kerascnn.visualize.inputs import load_image

__all__ = ["CLASSIC_KERNELS", "apply_kernel", "plot_classic_kernels"]

_GAUSS = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0  # binomial approximation, sigma ~ 1

CLASSIC_KERNELS: dict[str, np.ndarray] = {
    "box blur": np.full((3, 3), 1 / 9),
    "gaussian blur": _GAUSS,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float),
    "laplacian edge": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float),
    "sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),
    "sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),
}
"""The classic fixed kernels, written as Keras applies them (cross-correlation, not flipped):
``sobel x`` is positive where brightness rises left to right, ``sobel y`` top to bottom."""


def apply_kernel(plane: np.ndarray, kernel: np.ndarray, padding: str = "reflect") -> np.ndarray:
    """Apply ``kernel`` to a 2-D ``plane`` with a Keras ``Conv2D`` whose weights are the kernel.

    Keras (like every deep learning library) computes cross-correlation, ``y[i, j] =
    sum_uv k[u, v] x[i + u, j + v]``, without flipping the kernel as textbook convolution does;
    for the symmetric blur/sharpen/Laplacian kernels it makes no difference, for Sobel it fixes
    the sign. ``padding="reflect"`` mirrors the border (no dark frame), ``"same"`` pads zeros as
    Keras' ``padding="same"``, ``"valid"`` shrinks the output. The output has the input's size
    except for ``valid``.

    Example:
        >>> apply_kernel(np.full((5, 5), 7.0), CLASSIC_KERNELS["box blur"])[2, 2]  # doctest: +SKIP
        7.0
    """
    import keras

    kernel = np.asarray(kernel, dtype="float32")
    plane = np.asarray(plane, dtype="float32")
    if plane.ndim != 2 or kernel.ndim != 2:
        raise UsageError(
            f"apply_kernel wants a 2-D plane and a 2-D kernel, got {plane.shape}, {kernel.shape}"
        )
    conv_padding = "same" if padding == "same" else "valid"
    if padding == "reflect":
        kh, kw = kernel.shape
        plane = np.pad(plane, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)), mode="reflect")
    elif padding not in ("same", "valid"):
        raise UsageError(f"unknown padding {padding!r}; choose from: reflect, same, valid")
    conv = keras.layers.Conv2D(1, kernel.shape, padding=conv_padding, use_bias=False)
    conv.build((1, *plane.shape, 1))
    conv.set_weights([kernel[:, :, None, None]])
    return np.asarray(conv(plane[None, :, :, None]))[0, :, :, 0]


def _luma(image: np.ndarray) -> np.ndarray:
    if image.shape[-1] == 1:
        return image[..., 0].astype("float32")
    return image[..., :3].astype("float32") @ np.array([0.299, 0.587, 0.114], "float32")


def _shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    from PIL import Image

    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    return load_image(pil.resize(size, Image.LANCZOS))


def plot_classic_kernels(
    image, *, out=None, max_side: int = 400, padding: str = "reflect", tile_px: int = 200
) -> Picture:
    """Apply box blur, Gaussian blur, sharpen, Laplacian and Sobel x/y to a real image.

    Each result comes from a Keras ``Conv2D`` whose single kernel is set to the classic matrix
    (cross-correlation, as deep learning libraries compute it) on the image's grayscale.
    Edge responses are shown as magnitudes. The image is first shrunk to ``max_side`` pixels.

    Example:
        >>> from sklearn.datasets import load_sample_images
        >>> photo = load_sample_images().images[0]
        >>> plot_classic_kernels(photo, out="kernels.png").grid  # doctest: +SKIP
        (2, 4)
    """
    raw = _shrink(load_image(image), max_side)
    gray = _luma(raw)
    outputs = {name: apply_kernel(gray, k, padding) for name, k in CLASSIC_KERNELS.items()}
    height, width = gray.shape
    title = (
        "Classic kernels applied with a Keras Conv2D (cross-correlation, as DL libraries "
        f"compute it; {padding} padding) to a {width}x{height} image"
    )
    tile_height = tile_height_for(tile_px, *gray.shape)
    fig, axes = new_figure(2, 4, title, tile_px, tile_height)
    axes[0, 0].imshow(raw[..., 0] if raw.shape[-1] == 1 else raw, cmap="gray")
    axes[0, 0].set_title("original", fontsize=8)
    axes[0, 1].imshow(gray, cmap="gray", vmin=0, vmax=255)
    axes[0, 1].set_title("grayscale input", fontsize=8)
    for ax, (name, result) in zip(list(axes.flat)[2:], outputs.items()):
        kernel = CLASSIC_KERNELS[name]
        if name in ("laplacian edge", "sobel x", "sobel y"):
            ax.imshow(np.abs(result), cmap="gray", vmin=0, vmax=np.percentile(np.abs(result), 99.5))
            label = f"{name} (|response|)"
        else:
            ax.imshow(np.clip(result, 0, 255), cmap="gray", vmin=0, vmax=255)
            label = name
        if kernel.shape == (3, 3):
            rows = ["[" + " ".join(_short(v) for v in row) + "]" for row in kernel]
            label += "\n" + " ".join(rows)
        else:
            label += "\n5x5 binomial / 256"
        ax.set_title(label, fontsize=6.5, pad=2)
    path = png_path(out, "kernels.png")
    save_png(fig, path)
    return Picture(path, (2, 4), title, {"gray": gray, "outputs": outputs}, tile_px, tile_height)


def _short(value: float) -> str:
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    if abs(value - 1 / 9) < 1e-9:
        return "1/9"
    return f"{value:.2f}"
