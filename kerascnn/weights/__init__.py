"""Pretrained weights: where they come from, how they are converted, what input they expect.

``build(name, weights=...)`` is :func:`kerascnn.architectures.build` plus weights:

* ``None``: random weights (the plain builder).
* ``"imagenet"``: the model's default source (the first row of
  :data:`kerascnn.weights.sources.SOURCES` for it), downloaded once and cached
  (:mod:`kerascnn.weights.download`).
* a tag (``"keras"``, ``"tv_in1k"``, ``"tv2_in1k"``): that row.
* a path: a local ``.h5`` / ``.weights.h5`` (Keras layout, as keras.applications writes it),
  ``.safetensors`` or ``.pth`` (torchvision / timm key names). Files are ImageNet checkpoints
  (1000 classes); the model's table row of the same layout gives the input spec and builder
  options.

With ``num_classes`` other than the weights' 1000 the backbone loads and the classifier
(``logits``) is built fresh; ``include_top=False`` gives the backbone alone. The returned
Keras model carries ``model.pretrained``, a :class:`Pretrained` record (source, tag, layout, file,
hash, :class:`~kerascnn.preprocessing.InputSpec`, class names) for the run folder / export to
store: Keras does not save that attribute, so store :meth:`Pretrained.record` yourself.
:func:`describe` gives the same record without building anything.

Example:
    >>> import kerascnn
    >>> model = kerascnn.build("resnet50v2", weights="imagenet")  # doctest: +SKIP
    >>> model.pretrained.input_spec.name, model.pretrained.class_names[0]  # doctest: +SKIP
    ('tf', 'tench')
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from importlib import resources
from pathlib import Path

from kerascnn.errors import UsageError
from kerascnn.preprocessing import UNIT, InputSpec
from kerascnn.weights.errors import WeightsMismatch, WeightsUnavailable
from kerascnn.weights.sources import DEFAULT_TAG, SOURCES, WeightSource, find_source, sources_for

__all__ = [
    "DEFAULT_TAG",
    "SOURCES",
    "Pretrained",
    "WeightSource",
    "WeightsMismatch",
    "WeightsUnavailable",
    "build",
    "describe",
    "find_source",
    "imagenet_class_names",
]

IMAGENET_CLASSES_FILE = "imagenet_classes.txt"
IMAGENET_CLASSES = 1000


@lru_cache(maxsize=1)
def _imagenet_class_names() -> tuple[str, ...]:
    text = resources.files(__name__).joinpath(IMAGENET_CLASSES_FILE).read_text(encoding="utf8")
    names = tuple(line for line in text.splitlines() if line)
    if len(names) != IMAGENET_CLASSES:
        raise UsageError(f"{IMAGENET_CLASSES_FILE} lists {len(names)} classes, not 1000")
    return names


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order (the order every source's logits use).

    First WordNet lemma of each synset, from timm's ``imagenet_synsets.txt`` /
    ``imagenet_synset_to_lemma.txt``; the two names ImageNet uses twice are told apart:
    "crane (bird)" / "crane (machine)", "maillot" / "maillot (tank suit)".

    Example:
        >>> names = imagenet_class_names()
        >>> len(names), names[0], names[207], names[999]
        (1000, 'tench', 'golden retriever', 'toilet tissue')
    """
    return list(_imagenet_class_names())


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """What weights a model was built with: enough to rebuild it and preprocess its input.

    ``source`` is the table row (None for a local file no row describes); ``path`` the file
    read; ``sha256`` the file's when it was hashed (local files), else the table's hash is in
    ``source``. ``class_names`` are the ImageNet names when the model kept the 1000-class head.

    Example:
        >>> describe("vgg16")["input_spec"]["name"]
        'caffe'
    """

    model: str
    tag: str
    layout: str
    input_spec: InputSpec
    source: WeightSource | None = None
    path: str | None = None
    sha256: str | None = None
    class_names: tuple[str, ...] = ()
    head: str = "pretrained"  # "pretrained" | "fresh" | "none"

    def record(self) -> dict:
        """JSON-able record (for a run folder's ``config`` / an export's assets).

        Example:
            >>> describe("vgg16")["md5"]
            '64373286793e3c8b2b4e3219cbf3544b'
        """
        # A local file is not the table's file: only its input spec comes from the table.
        source = self.source if self.tag != "file" else None
        return {
            "model": self.model,
            "tag": self.tag,
            "layout": self.layout,
            "file_name": Path(self.path).name if self.path else (source.file_name if source else None),
            "path": self.path,
            "url": source.url if source else None,
            "hub_repo": source.hub_repo if source else None,
            "sha256": self.sha256 or (source.sha256 if source else None),
            "md5": source.md5 if source else None,
            "license": source.license if source else None,
            "top1": source.top1 if source else None,
            "input_spec": self.input_spec.to_dict(),
            "input_spec_from": self.source.tag if self.source else None,
            "head": self.head,
        }


def _looks_like_path(weights) -> bool:
    from kerascnn.weights.files import looks_like_path

    return isinstance(weights, Path) or looks_like_path(str(weights))


def _row_for_layout(name: str, layout: str) -> WeightSource | None:
    return next((row for row in sources_for(name) if row.layout == layout), None)


def _resolve(name: str, weights, *, download: bool) -> tuple[WeightSource | None, str, Path | None, str]:
    """(table row or None, tag, local path or None, layout) for a ``weights`` argument."""
    from kerascnn.weights.files import detect_layout

    if _looks_like_path(weights):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise UsageError(f"weights file {path} does not exist")
        layout = detect_layout(path)
        return _row_for_layout(name, layout), "file", path.resolve(), layout
    if not isinstance(weights, str):
        raise UsageError(f"weights must be None, 'imagenet', a tag or a file path, got {weights!r}")
    source = find_source(name, weights)
    path = None
    if download:
        from kerascnn.weights.download import fetch_weights

        path = fetch_weights(source)
    return source, source.tag, path, source.layout


def _pretrained(name, weights, *, include_top: bool, fresh_head: bool, download: bool) -> Pretrained:
    from kerascnn.weights.download import file_digest

    source, tag, path, layout = _resolve(name, weights, download=download)
    spec = source.input_spec if source else UNIT
    head = "none" if not include_top else ("fresh" if fresh_head else "pretrained")
    local = tag == "file"
    return Pretrained(
        model=name,
        tag=tag,
        layout=layout,
        input_spec=spec,
        source=source,
        path=str(path) if path else None,
        sha256=file_digest(path, "sha256") if local else None,
        class_names=tuple(imagenet_class_names()) if head == "pretrained" else (),
        head=head,
    )


def describe(name: str, weights="imagenet", *, num_classes: int | None = None,
             include_top: bool = True) -> dict:
    """The record :func:`build` would attach, without building or downloading.

    Example:
        >>> record = describe("densenet121")
        >>> record["tag"], record["layout"], record["input_spec"]["std"]
        ('keras', 'keras', [0.229, 0.224, 0.225])
    """
    fresh = num_classes is not None and num_classes != IMAGENET_CLASSES
    return _pretrained(name, weights, include_top=include_top, fresh_head=fresh,
                       download=False).record()


def build(
    name: str,
    *,
    weights=None,
    num_classes: int | None = None,
    include_top: bool = True,
    input_shape=None,
    **overrides,
):
    """Build a registered model, with pretrained weights when ``weights`` is given.

    ``weights``: None | "imagenet" | a tag | a path (see the module docstring). Other arguments
    as :func:`kerascnn.architectures.build` (``pooling``, ``classifier_activation`` and the
    family's overrides pass through; a source's own builder options, e.g. torchvision's BN
    epsilon, are applied first). ``num_classes`` other than 1000: pretrained backbone, fresh
    classifier.

    Example:
        >>> model = build("mobilenet_v2", weights="imagenet", num_classes=5)  # doctest: +SKIP
        >>> model.pretrained.head  # doctest: +SKIP
        'fresh'
    """
    from kerascnn.architectures import build as build_architecture

    if weights is None:
        return build_architecture(
            name, input_shape=input_shape, num_classes=num_classes, include_top=include_top,
            **overrides,
        )
    fresh_head = include_top and num_classes is not None and num_classes != IMAGENET_CLASSES
    pretrained = _pretrained(name, weights, include_top=include_top, fresh_head=fresh_head,
                             download=True)
    options = dict(pretrained.source.build_overrides) if pretrained.source else {}
    if not pretrained.source and pretrained.layout == "torchvision":
        from kerascnn.weights.torch_layout import build_overrides

        options = build_overrides(name)
    model = build_architecture(
        name,
        input_shape=input_shape,
        num_classes=num_classes if num_classes is not None else IMAGENET_CLASSES,
        include_top=include_top,
        **{**options, **overrides},
    )
    load_top = include_top and not fresh_head
    if pretrained.layout == "keras":
        from kerascnn.weights.keras_layout import assign_keras_h5

        assign_keras_h5(model, pretrained.path, include_top=load_top)
    else:
        from kerascnn.weights.files import read_state
        from kerascnn.weights.torch_layout import assign_torch_state

        assign_torch_state(model, read_state(pretrained.path), include_top=load_top)
    model.pretrained = pretrained
    return model
