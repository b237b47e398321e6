"""Figure helpers shared by every picture: pixel-exact layout, the written PNG, its record.

Pictures are laid out in whole pixels so their size follows from the tile grid alone, which
lets tests check a PNG's size against :attr:`Picture.expected_size`. matplotlib (Agg backend)
is imported only when a figure is drawn.

Example:
    >>> grid_shape(10)
    (3, 4)
    >>> Picture(Path("f.png"), (3, 4), "ten tiles").expected_size
    (640, 540)
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from kerascnn.errors import KerasCNNError, UsageError

__all__ = [
    "DPI",
    "HEADER_PX",
    "MAX_TILES",
    "TILE_PX",
    "Picture",
    "grid_shape",
    "new_figure",
    "png_path",
    "save_png",
    "tile_height_for",
]

# Pictures are laid out in whole pixels so their size follows from the grid alone:
# width = cols * tile width, height = rows * tile height + HEADER_PX, tiles TILE_PX square
# unless the pictured maps are clearly not square (then the tile follows their aspect).
DPI = 100
TILE_PX = 160
HEADER_PX = 60
MAX_TILES = 64


@dataclass
class Picture:
    """One written PNG: where it is, its tile grid ``(rows, cols)``, and the numbers drawn.

    Example:
        >>> Picture(Path("k.png"), (2, 4), "kernels", tile_px=200).expected_size
        (800, 460)
    """

    path: Path
    grid: tuple[int, int]
    title: str
    data: dict = field(default_factory=dict)

    tile_px: int = TILE_PX
    tile_height: int | None = None  # None: square tiles

    @property
    def expected_size(self) -> tuple[int, int]:
        """Pixel ``(width, height)`` the PNG has for this grid.

        Example:
            >>> Picture(Path("m.png"), (1, 2), "matrix", tile_px=320).expected_size
            (640, 380)
        """
        rows, cols = self.grid
        return cols * self.tile_px, rows * (self.tile_height or self.tile_px) + HEADER_PX


def png_path(out, default_name: str) -> Path:
    """Where a figure goes: ``out``, else ``default_name``; must end in .png; folders are made.

    Example:
        >>> png_path(None, "kernels.png")  # doctest: +SKIP
        PosixPath('kernels.png')
    """
    path = Path(out) if out else Path(default_name)
    if path.suffix.lower() != ".png":
        raise UsageError(f"output must be a .png file, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def grid_shape(count: int) -> tuple[int, int]:
    """``(rows, cols)`` of the most nearly square grid holding ``count`` tiles.

    Example:
        >>> grid_shape(6), grid_shape(16)
        ((2, 3), (4, 4))
    """
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def tile_height_for(tile_px: int, height: int, width: int) -> int:
    """Tile height for pictures of ``height x width``: square unless clearly not square.

    Example:
        >>> tile_height_for(160, 28, 28), tile_height_for(200, 427, 640)
        (160, 151)
    """
    aspect = height / width
    if abs(aspect - 1) < 0.1:
        return tile_px
    return round(tile_px * min(max(aspect, 0.4), 1.6)) + 18  # + room for the tile's caption


def new_figure(rows: int, cols: int, title: str, tile_px: int = TILE_PX, tile_height=None):
    """A figure sized in whole pixels (see TILE_PX / HEADER_PX) with rows x cols axes.

    Example:
        >>> fig, axes = new_figure(2, 4, "eight panels")  # doctest: +SKIP
        >>> axes.shape  # doctest: +SKIP
        (2, 4)
    """
    import textwrap

    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    width, height = cols * tile_px, rows * (tile_height or tile_px) + HEADER_PX
    fig, axes = plt.subplots(
        rows, cols, figsize=(width / DPI, height / DPI), dpi=DPI, squeeze=False
    )
    fig.subplots_adjust(
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=1 - (HEADER_PX - 6) / height,
        wspace=0.08,
        hspace=0.3,
    )
    # ~7 px per character at 9 pt: wrap long titles onto a second line within the header.
    wrapped = "\n".join(textwrap.wrap(title, max(30, width // 7))[:2])
    fig.suptitle(wrapped, fontsize=9, y=1 - 4 / height, va="top")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    return fig, axes


def save_png(fig, path: Path):
    """Write the figure as a palette PNG: the same picture at a fraction of the bytes.

    Example:
        >>> save_png(fig, png_path(None, "panels.png"))  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")
    plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as picture:
        palette = picture.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    try:
        palette.save(path, format="PNG", optimize=True)
    except OSError as exc:
        raise KerasCNNError(f"cannot write {path}: {exc}") from None
