"""Image folders: find the files, check each one up front, describe what is there.

A folder is laid out ``root/<class>/<image>`` or, with explicit splits,
``root/{train,val,test}/<class>/<image>`` (``validation/`` is accepted for ``val/``). Class
names are the class folder names, sorted. Every file is opened once with Pillow before any
training starts - cheap checks (``verify()``, end-of-file markers) rather than full decodes -
so a corrupt image fails at once with its path, or is skipped and counted with ``skip_bad``.
The files taken are every image Pillow reads, ``contract.IMAGE_SUFFIXES`` - the same set
``predict`` accepts. PNG, JPEG, BMP and GIF are decoded by TensorFlow inside the pipeline; the
others (WebP, TIFF, PPM/PGM, 1-bit BMP) are flagged ``FileSplit.pillow`` and decoded by
:func:`kerascnn.images.load_image`, predict's own reader, so both see the same pixels.

Example:
    >>> import shutil, tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("cat", "dog"):
    ...     (root / name).mkdir()
    ...     Image.new("RGB", (4, 3)).save(root / name / "1.png")
    >>> scan = scan_folder(root)
    >>> scan.class_names, len(scan.files["train"]), scan.bad
    (['cat', 'dog'], 2, [])
    >>> source = folder_source(root)
    >>> source.splits["train"].y.tolist(), source.image_hw, source.natural_channels
    ([0, 1], (3, 4), 3)
    >>> Image.new("L", (4, 3)).save(root / "dog" / "2.webp")
    >>> folder_source(root).splits["train"].pillow.tolist()
    [False, False, True]
    >>> shutil.rmtree(root)

The examples below name folders that are not there, so they do not run as doctests.
"""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.contract import IMAGE_SUFFIXES
from kerascnn.data.sources.base import FileSplit, Source
from kerascnn.errors import UsageError

# Pillow format names the pipeline's TensorFlow decoder reads; other formats Pillow reads are
# decoded by Pillow in the pipeline (slower, so the common formats stay in the graph).
DECODABLE_FORMATS = {"PNG", "JPEG", "BMP", "GIF"}
SPLIT_DIRS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


@dataclass
class ImageFile:
    """One image file and what a cheap look at it found."""

    path: Path
    class_name: str
    split: str
    size: tuple[int, int] | None = None  # (width, height) as Pillow reports it
    mode: str | None = None
    format: str | None = None
    sha1: str | None = None
    error: str | None = None  # None when the file looks readable


@dataclass
class FolderScan:
    """The result of :func:`scan_folder`."""

    root: Path
    class_names: list[str]
    files: dict[str, list[ImageFile]]  # split -> readable files, sorted by path
    bad: list[ImageFile] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)  # non-image files

    def all_files(self) -> list[ImageFile]:
        """Every readable file, split after split."""
        return [f for split in self.files.values() for f in split]


def check_image(data: bytes) -> tuple[tuple[int, int], str, str]:
    """Cheaply check encoded image bytes; return ``(size, mode, format)`` or raise ValueError.

    Pillow's ``verify()`` walks PNG chunks (CRCs included); JPEG and GIF are checked for their
    end markers (a truncated download misses them); BMP and GIF frames are small, so they are
    fully decoded, and so is every format TensorFlow does not decode (WebP, TIFF...), which the
    pipeline hands to Pillow.

    Example:
        >>> from PIL import Image
        >>> png = io.BytesIO()
        >>> Image.new("RGB", (64, 48)).save(png, "PNG")
        >>> check_image(png.getvalue())
        ((64, 48), 'RGB', 'PNG')
        >>> check_image(b"GIF89a")
        Traceback (most recent call last):
        ...
        ValueError: not a readable image
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            size, mode, fmt = image.size, image.mode, image.format
            if fmt in ("BMP", "GIF") or not graph_decodes(fmt, mode):
                image.load()
            else:
                image.verify()
    except UnidentifiedImageError:
        raise ValueError("not a readable image") from None
    except (OSError, SyntaxError, EOFError) as exc:  # Pillow's ways of saying "corrupt"
        raise ValueError(str(exc) or type(exc).__name__) from None
    if fmt == "JPEG" and b"\xff\xd9" not in data[-64:]:
        raise ValueError("truncated JPEG (no end-of-image marker)")
    if fmt == "GIF" and not data.rstrip(b"\x00").endswith(b";"):
        raise ValueError("truncated GIF (no trailer)")
    if min(size) < 1:
        raise ValueError(f"empty image {size[0]}x{size[1]}")
    return size, mode, fmt


def graph_decodes(fmt: str | None, mode: str | None) -> bool:
    """Whether TensorFlow's in-graph decoder reads an image of this Pillow format and mode
    (else the pipeline decodes it with Pillow).

    Example:
        >>> graph_decodes("PNG", "RGB"), graph_decodes("WEBP", "RGB"), graph_decodes("BMP", "1")
        (True, False, False)
    """
    return fmt in DECODABLE_FORMATS and not (fmt == "BMP" and mode == "1")


def _inspect_file(item: ImageFile) -> ImageFile:
    try:
        data = item.path.read_bytes()
    except OSError as exc:
        item.error = exc.strerror or str(exc)
        return item
    item.sha1 = hashlib.sha1(data).hexdigest()
    try:
        item.size, item.mode, item.format = check_image(data)
    except ValueError as exc:
        item.error = str(exc)
    return item


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _layout(root: Path) -> dict[str, Path]:
    """Map split name -> folder holding class folders."""
    children = _class_dirs(root)
    names = {p.name.lower() for p in children}
    if "train" in names and names <= set(SPLIT_DIRS):
        return {SPLIT_DIRS[p.name.lower()]: p for p in children}
    return {"train": root}


def scan_folder(root, *, workers: int = 8) -> FolderScan:
    """List and check every image under ``root`` (see the module docstring for the layout).

    Raises UsageError for a missing or empty folder and for a folder with a single class.

    Example:
        >>> scan_folder("data/flowers").class_names  # doctest: +SKIP
        ['daisy', 'rose', 'tulip']
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UsageError(f"data folder {str(root)!r} does not exist")
    layout = _layout(root)
    items, ignored, classes = [], [], set()
    for split, folder in layout.items():
        for class_dir in _class_dirs(folder):
            for path in sorted(class_dir.rglob("*")):
                if not path.is_file() or any(
                    part.startswith(".") for part in path.relative_to(class_dir).parts
                ):
                    continue
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    ignored.append(path)
                    continue
                classes.add(class_dir.name)
                items.append(ImageFile(path=path, class_name=class_dir.name, split=split))
    if not items:
        loose = [p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        hint = (
            " (images must sit in one folder per class: root/<class>/<image>)"
            if loose
            else " (expected root/<class>/<image> with PNG, JPEG, BMP, GIF, WebP or TIFF files)"
        )
        raise UsageError(f"data folder {str(root)!r} holds no images{hint}")
    class_names = sorted(classes)
    if len(class_names) < 2:
        raise UsageError(
            f"data folder {str(root)!r} has a single class {class_names[0]!r}; a classifier "
            "needs at least two class folders"
        )
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checked = list(pool.map(_inspect_file, items))
    files = {
        split: [f for f in checked if f.split == split and f.error is None] for split in layout
    }
    bad = [f for f in checked if f.error is not None]
    return FolderScan(root=root, class_names=class_names, files=files, bad=bad, ignored=ignored)


def bad_file_error(item: ImageFile) -> UsageError:
    """The one-line error for an unreadable image.

    Example:
        >>> print(bad_file_error(ImageFile(Path("a/b.png"), "a", "train", error="not a readable image")))
        cannot read image 'a/b.png': not a readable image (fix or remove it, or pass --skip-bad / skip_bad=True to skip unreadable images)
    """
    return UsageError(
        f"cannot read image {str(item.path)!r}: {item.error} "
        "(fix or remove it, or pass --skip-bad / skip_bad=True to skip unreadable images)"
    )


def folder_source(root, *, skip_bad: bool = False) -> Source:
    """Scan ``root`` and return it as a source: file lists and labels per split.

    Example:
        >>> source = folder_source("photos/", skip_bad=True)  # doctest: +SKIP
        >>> source.class_names, source.skipped  # doctest: +SKIP
        (['cat', 'dog'], ['photos/cat/broken.jpg'])
        >>> source.skip_reasons  # doctest: +SKIP
        {'photos/cat/broken.jpg': 'truncated JPEG (no end-of-image marker)'}
    """
    scan = scan_folder(root)
    if scan.bad and not skip_bad:
        raise bad_file_error(scan.bad[0])
    index = {name: i for i, name in enumerate(scan.class_names)}
    splits = {}
    for split, files in scan.files.items():
        if not files and split != "train":
            continue
        splits[split] = FileSplit(
            paths=np.array([str(f.path) for f in files], dtype=object),
            y=np.array([index[f.class_name] for f in files], dtype=np.int32),
            pillow=np.array([not graph_decodes(f.format, f.mode) for f in files], dtype=bool),
        )
    if len(splits.get("train", ())) == 0:
        raise UsageError(f"data folder {str(scan.root)!r} has no readable training images")
    good = scan.all_files()
    sizes = {f.size for f in good}
    gray = all(f.mode in GRAY_MODES for f in good)
    return Source(
        splits=splits,
        class_names=scan.class_names,
        spec=str(scan.root),
        skipped=[str(f.path) for f in scan.bad],
        skip_reasons={str(f.path): f.error for f in scan.bad},
        channels=None,  # decoded as RGB: converts to any channel count
        natural_channels=1 if gray else 3,
        image_hw=(next(iter(sizes))[1], next(iter(sizes))[0]) if len(sizes) == 1 else None,
    )
