"""Build CNNs: LeNet-5, VGG16 and ResNet-50 from the registry, and a custom CNN from the blocks.

The registry builds the classic architectures with their published parameter counts; the
blocks (``kerascnn.blocks``) are the pieces to build your own: conv-bn-act with any padding
(valid / same / circular / reflect), pooling, dropout and residual blocks, each layer with a
stable hierarchical name.

Run:
    python examples/build_models.py            # the three classics at their default sizes
    python examples/build_models.py --tiny     # small inputs, no per-layer table: seconds
"""

from __future__ import annotations

import argparse

import keras

import kerascnn
from kerascnn import blocks
from kerascnn.arithmetic import analyze, format_count


def custom_cnn(input_shape=(32, 32, 3), num_classes=10, dropout=0.25):
    """conv -> pool -> dropout -> residual -> residual (downsampling) -> global pool -> dense.

    Example:
        >>> custom_cnn().count_params()  # doctest: +SKIP
    """
    inputs = keras.Input(input_shape, name="image")
    x = blocks.conv_bn_act(inputs, 32, 3, padding="reflect", name="stem")  # mirrored borders
    x = blocks.pool(x, "max", 2, name="stem_pool")
    x = blocks.dropout(x, dropout, name="stem_dropout")
    x = blocks.basic_block(x, 32, name="stage1_block1")  # identity shortcut
    x = blocks.basic_block(x, 64, strides=2, shortcut="B", name="stage2_block1")  # 1x1 projection
    x = blocks.global_pool(x, "avg", name="gap")
    x = blocks.dropout(x, dropout, name="head_dropout")
    x = blocks.dense(x, num_classes, name="logits")
    outputs = keras.layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="custom_cnn")


def trainable_params(model) -> int:
    return sum(int(keras.ops.size(w)) for w in model.trainable_weights)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="build VGG16/ResNet-50 at 32x32 with 10 classes (fast)")
    args = parser.parse_args(argv)

    print(f"{len(kerascnn.list_models())} registered models: {', '.join(kerascnn.list_models())}\n")
    rows = []
    for name in ("lenet5", "vgg16", "resnet50"):
        info = kerascnn.get_model_info(name)
        small = args.tiny and name != "lenet5"
        kwargs = {"input_shape": (32, 32, 3), "num_classes": 10} if small else {}
        model = kerascnn.build(name, **kwargs)
        params = trainable_params(model)
        if not small:  # at the defaults the count is the published one
            assert params == info.params, (name, params, info.params)
        shape = "x".join(map(str, model.input_shape[1:]))
        rows.append((name, shape, params, info.params, analyze(model).totals.macs, info.reference))
        if name == "lenet5":
            model.summary()
            print(analyze(model).table(), "\n")  # per layer: shape, params, MACs, receptive field

    model = custom_cnn()
    model.summary()
    print("custom_cnn layers:", ", ".join(layer.name for layer in model.layers[1:]))
    rows.append(("custom_cnn", "32x32x3", trainable_params(model), None,
                 analyze(model).totals.macs, "kerascnn.blocks"))

    print(f"\n{'model':<11} {'input':<11} {'trainable':>12} {'published':>12} {'MACs':>8}  reference")
    for name, shape, params, published, macs, reference in rows:
        published = f"{published:,}" if published else "-"
        print(f"{name:<11} {shape:<11} {params:>12,} {published:>12} {format_count(macs):>8}  "
              f"{reference[:60]}")


if __name__ == "__main__":
    main()
