"""``kerascnn data inspect``: what is in a dataset before training on it.

Counts per class (per split where the source has splits), image sizes and modes, corrupt files,
duplicate images (same content hash - across classes they are label conflicts), and a PNG grid
of sample images per class.

Only TFDS specs load TensorFlow; folders, digits and arrays are inspected without it.

Example:
    >>> from kerascnn.data import inspect_data
    >>> report = inspect_data("digits", out=None)
    >>> report.counts["all"]["3"], report.sizes, report.grid
    (183, {'8x8': 1797}, None)
    >>> print(format_report(report).splitlines()[0])
    Data: digits (digits), 1797 images, 10 classes
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.data.sources import resolve
from kerascnn.data.sources.folder import scan_folder
from kerascnn.data.sources.tfds import tfds_source
from kerascnn.errors import UsageError

MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# Sample grid geometry, in inches at GRID_DPI: one CELL per image plus a label column and a
# title row, so the PNG is (LABEL + cols * CELL) x (TITLE + rows * CELL) inches.
GRID_DPI = 100
GRID_CELL = 0.9
GRID_LABEL = 1.2
GRID_TITLE = 0.5
MAX_GRID_CLASSES = 30


@dataclass
class DataReport:
    """What :func:`inspect_data` found; ``to_dict()`` is what ``--json`` prints.

    Example:
        >>> DataReport("digits", "digits", ["0"], {"all": {"0": 1}}, {"8x8": 1}, {"L": 1}).total
        0
    """

    spec: str
    kind: str
    class_names: list[str]
    counts: dict[str, dict[str, int]]  # split -> class -> images
    sizes: dict[str, int]  # "WxH" -> images
    modes: dict[str, int]  # Pillow mode -> images
    formats: dict[str, int] = field(default_factory=dict)
    corrupt: list[dict] = field(default_factory=list)  # {"path", "error"}
    duplicates: list[list[str]] = field(default_factory=list)  # groups of "class/name" items
    ignored: list[str] = field(default_factory=list)  # non-image files in a folder
    total: int = 0
    grid: str | None = None

    def to_dict(self) -> dict:
        """Plain JSON-ready dict.

        Example:
            >>> sorted(DataReport("d", "arrays", [], {}, {}, {}).to_dict())[:3]
            ['class_names', 'corrupt', 'counts']
        """
        return asdict(self)


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.strip("/")).strip("_") or "data"


def _duplicate_groups(items) -> list[list[str]]:
    """``items``: (hash, label) pairs -> groups of labels sharing a hash (largest first)."""
    by_hash = defaultdict(list)
    for digest, label in items:
        by_hash[digest].append(label)
    groups = [sorted(v) for v in by_hash.values() if len(v) > 1]
    return sorted(groups, key=lambda g: (-len(g), g))


def _grid_png(samples: dict[str, list[np.ndarray]], path: Path, title: str) -> Path:
    """Draw ``class -> [uint8 HxWxC images]`` as one row per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(samples)[:MAX_GRID_CLASSES]
    cols = max(1, max((len(v) for v in samples.values()), default=1))
    width = GRID_LABEL + cols * GRID_CELL
    height = GRID_TITLE + len(rows) * GRID_CELL
    fig = plt.figure(figsize=(width, height), dpi=GRID_DPI)
    fig.suptitle(title, fontsize=10, y=1 - 0.15 * GRID_TITLE / height)
    for r, name in enumerate(rows):
        bottom = 1 - (GRID_TITLE + (r + 1) * GRID_CELL) / height
        fig.text(0.1 / width, bottom + 0.5 * GRID_CELL / height, name[:16], va="center", fontsize=9)
        for c, image in enumerate(samples[name]):
            ax = fig.add_axes(
                [
                    (GRID_LABEL + c * GRID_CELL + 0.04) / width,
                    bottom + 0.04 / height,
                    (GRID_CELL - 0.08) / width,
                    (GRID_CELL - 0.08) / height,
                ]
            )
            if image.ndim == 3 and image.shape[-1] == 1:
                image = image[..., 0]
            ax.imshow(
                image,
                cmap="gray" if image.ndim == 2 else None,
                vmin=0,
                vmax=255,
                interpolation="nearest",
            )
            ax.set_axis_off()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=GRID_DPI)
    plt.close(fig)
    return path


def grid_pixel_size(num_classes: int, samples_per_class: int) -> tuple[int, int]:
    """Pixel ``(width, height)`` of the sample grid PNG for a class count and samples per class.

    Example:
        >>> grid_pixel_size(10, 8)
        (840, 950)
    """
    rows = min(num_classes, MAX_GRID_CLASSES)
    return (
        round((GRID_LABEL + samples_per_class * GRID_CELL) * GRID_DPI),
        round((GRID_TITLE + rows * GRID_CELL) * GRID_DPI),
    )


def _pick(indices_by_class: dict, k: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        name: sorted(rng.choice(idx, size=min(k, len(idx)), replace=False).tolist())
        for name, idx in indices_by_class.items()
    }


def _inspect_arrays(x, labels, class_names, spec, kind, samples_per_class, seed):
    n = len(labels)
    counts = Counter(class_names[i] for i in labels)
    h, w, c = x.shape[1:]
    hashes = [
        (hashlib.sha1(x[i].tobytes()).hexdigest(), f"{class_names[labels[i]]}/#{i}")
        for i in range(n)
    ]
    index = {
        name: np.flatnonzero(labels == i) for i, name in enumerate(class_names) if counts.get(name)
    }
    picked = _pick(index, samples_per_class, seed)
    report = DataReport(
        spec=spec,
        kind=kind,
        class_names=list(class_names),
        counts={"all": {name: counts.get(name, 0) for name in class_names}},
        sizes={f"{w}x{h}": n},
        modes={MODES.get(c, f"{c}ch"): n},
        duplicates=_duplicate_groups(hashes),
        total=n,
    )
    samples = {name: [x[i] for i in idx] for name, idx in picked.items()}
    return report, samples


def _inspect_folder(root, samples_per_class, seed):
    from PIL import Image

    scan = scan_folder(root)
    good = scan.all_files()
    counts = {}
    for split, files in scan.files.items():
        per_class = Counter(f.class_name for f in files)
        counts[split] = {name: per_class.get(name, 0) for name in scan.class_names}

    def rel(path):
        return str(Path(path).relative_to(scan.root))

    report = DataReport(
        spec=str(scan.root),
        kind="folder",
        class_names=scan.class_names,
        counts=counts,
        sizes=dict(Counter(f"{f.size[0]}x{f.size[1]}" for f in good).most_common()),
        modes=dict(Counter(f.mode for f in good).most_common()),
        formats=dict(Counter(f.format for f in good).most_common()),
        corrupt=[{"path": str(f.path), "error": f.error} for f in scan.bad],
        duplicates=_duplicate_groups((f.sha1, rel(f.path)) for f in good + scan.bad if f.sha1),
        ignored=[str(p) for p in scan.ignored],
        total=len(good),
    )
    by_class = defaultdict(list)
    for f in good:
        by_class[f.class_name].append(f)
    picked = _pick({k: np.arange(len(v)) for k, v in by_class.items()}, samples_per_class, seed)
    samples = {}
    for name in scan.class_names:
        images = []
        for i in picked.get(name, []):
            with Image.open(by_class[name][i].path) as im:
                im.thumbnail((128, 128))
                images.append(np.asarray(im.convert("RGB")))
        samples[name] = images
    return report, samples


def _inspect_tfds(name, data_dir, download, split, samples_per_class, seed, max_examples):
    source = tfds_source(
        name,
        data_dir=data_dir,
        download=download,
        split=split,
        val_split=0.0,
        test_split=0.0,
        seed=seed,
    )
    counts, sizes, modes, hashes = {}, Counter(), Counter(), []
    samples = {c: [] for c in source.class_names}
    total = 0
    for part, sp in source.splits.items():
        per_class = Counter()
        ds = sp.dataset if max_examples is None else sp.dataset.take(max_examples)
        for i, (image, label) in enumerate(ds.as_numpy_iterator()):
            cname = source.class_names[int(label)]
            per_class[cname] += 1
            sizes[f"{image.shape[1]}x{image.shape[0]}"] += 1
            modes[MODES.get(image.shape[-1], f"{image.shape[-1]}ch")] += 1
            hashes.append((hashlib.sha1(image.tobytes()).hexdigest(), f"{part}/{cname}/#{i}"))
            if len(samples[cname]) < samples_per_class:
                samples[cname].append(image)
            total += 1
        counts[part] = {c: per_class.get(c, 0) for c in source.class_names}
    report = DataReport(
        spec=source.spec,
        kind="tfds",
        class_names=source.class_names,
        counts=counts,
        sizes=dict(sizes.most_common()),
        modes=dict(modes.most_common()),
        duplicates=_duplicate_groups(hashes),
        total=total,
    )
    return report, {k: v for k, v in samples.items() if v}


def inspect_data(
    spec,
    *,
    out="runs/inspect",
    samples_per_class: int = 8,
    seed: int = 0,
    data_dir=None,
    download=False,
    split=None,
    max_examples=None,
) -> DataReport:
    """Describe a dataset spec and draw a sample grid PNG into ``out`` (None: no picture).

    Works on every spec :func:`kerascnn.data.load_data` accepts. Corrupt files are reported,
    not raised; an empty or single-class folder still raises UsageError.

    Example:
        >>> report = inspect_data("photos/", out="runs/inspect")  # doctest: +SKIP
        >>> report.corrupt  # doctest: +SKIP
        [{'path': 'photos/cat/bad.png', 'error': 'Truncated File Read'}]
    """
    if samples_per_class < 1:
        raise UsageError(f"samples per class must be at least 1, not {samples_per_class}")
    if isinstance(spec, str) and spec.startswith("tfds:"):
        report, samples = _inspect_tfds(
            spec[5:], data_dir, download, split, samples_per_class, seed, max_examples
        )
    elif isinstance(spec, (str, Path)) and Path(spec).expanduser().is_dir():
        report, samples = _inspect_folder(spec, samples_per_class, seed)
    else:
        source = resolve(spec, val_split=0.0, test_split=0.0, seed=seed)
        part = source.splits["train"]
        kind = "digits" if source.spec == "digits" else "arrays"
        report, samples = _inspect_arrays(
            part.x, part.y, source.class_names, source.spec, kind, samples_per_class, seed
        )
    if out is not None and samples:
        name = Path(report.spec).name if report.kind == "folder" else report.spec
        path = Path(out).expanduser() / f"{_slug(name)}_samples.png"
        title = f"{report.spec}: {report.total} images, {len(report.class_names)} classes"
        report.grid = str(_grid_png(samples, path, title))
    return report


def _table(rows: list[list[str]], align_right_from: int = 1) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [
            cell.ljust(w) if i < align_right_from else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _counter_line(counter: dict, limit: int = 8) -> str:
    items = list(counter.items())
    text = ", ".join(f"{k} ({v})" for k, v in items[:limit])
    return text + (f", ... {len(items) - limit} more" if len(items) > limit else "")


def format_report(report: DataReport, max_listed: int = 20) -> str:
    """Render a :class:`DataReport` as the plain-text table ``kerascnn data inspect`` prints.

    Example:
        >>> print(format_report(inspect_data("digits", out=None)))
        Data: digits (digits), 1797 images, 10 classes
        <BLANKLINE>
        class   all
        0       178
        1       182
        2       177
        3       183
        4       181
        5       182
        6       181
        7       179
        8       174
        9       180
        total  1797
        <BLANKLINE>
        Image sizes (WxH): 8x8 (1797)
        Modes: L (1797)
        Corrupt files: 0
        Duplicate files: 0 in 0 groups (same content)
    """
    splits = list(report.counts)
    header = ["class", *splits] + (["total"] if len(splits) > 1 else [])
    rows = [header]
    for name in report.class_names:
        values = [report.counts[s].get(name, 0) for s in splits]
        rows.append([name, *map(str, values)] + ([str(sum(values))] if len(splits) > 1 else []))
    totals = [sum(report.counts[s].values()) for s in splits]
    rows.append(["total", *map(str, totals)] + ([str(sum(totals))] if len(splits) > 1 else []))
    lines = [
        f"Data: {report.spec} ({report.kind}), {report.total} images, "
        f"{len(report.class_names)} classes",
        "",
        *_table(rows),
        "",
        f"Image sizes (WxH): {_counter_line(report.sizes)}",
        f"Modes: {_counter_line(report.modes)}",
    ]
    if report.formats:
        lines.append(f"Formats: {_counter_line(report.formats)}")
    lines.append(f"Corrupt files: {len(report.corrupt)}")
    for item in report.corrupt[:max_listed]:
        lines.append(f"  {item['path']}: {item['error']}")
    extra = sum(len(g) - 1 for g in report.duplicates)
    lines.append(f"Duplicate files: {extra} in {len(report.duplicates)} groups (same content)")
    for group in report.duplicates[:max_listed]:
        lines.append("  " + " = ".join(group[:6]) + (" ..." if len(group) > 6 else ""))
    if report.ignored:
        lines.append(f"Ignored non-image files: {len(report.ignored)}")
    if report.grid:
        lines.append(f"Sample grid: {report.grid}")
    return "\n".join(lines)
