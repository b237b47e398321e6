"""Suggestions for mistyped names."""

import doctest

import kerascnn.errors
from kerascnn.errors import UsageError, did_you_mean, unknown_name


def test_docstring_examples():
    assert doctest.testmod(kerascnn.errors).failed == 0


def test_ties_prefer_the_smallest_typo():
    assert did_you_mean("resnet5O", ["resnet56", "resnet50", "resnet18"]) == "resnet50"
    assert did_you_mean("vgg61", ["vgg19", "vgg16"]) == "vgg16"
    assert did_you_mean("conv3", ["conv1", "conv2"]) == "conv2"


def test_case_insensitive_exact_match_and_no_match():
    assert did_you_mean("ResNet18", ["resnet18"]) == "resnet18"
    assert did_you_mean("zzzz", ["resnet18", "vgg16"]) is None


def test_unknown_name_lists_choices_when_nothing_is_close():
    err = unknown_name("optimizer", "qqq", ["sgd", "adam"])
    assert isinstance(err, UsageError)
    assert str(err) == "unknown optimizer 'qqq'; choose from: adam, sgd"
