"""The course's first models ("PyTorch深度学习实践", lectures 5-9): fully connected networks.

* ``linear-regression`` (lecture 5): ``Linear(1, 1)``, fitted to y = 2x.
* ``logistic-regression`` (lecture 6): ``sigmoid(Linear(1, 1))``, pass/fail from hours studied.
* ``diabetes-mlp`` (lecture 7): 8 -> 6 -> 4 -> 1 with a sigmoid after every layer.
* ``mnist-mlp`` (lecture 9): a 28x28 digit flattened to 784 values, 512-256-128-64-32 ReLU
  layers, 10 logits.

The sigmoid models output a probability, as the course's models do (trained with BCELoss).
"""

from dataclasses import dataclass
from typing import List, Tuple

import torch
from torch import Tensor, nn

from zoo.models.common import option
from zoo.nn.checks import check_dims, check_features, check_floating
from zoo.recipe import Recipe
from zoo.registry import ExampleInputs, ModelSpec, Signature, TensorSpec, register_model

MNIST_SHAPE = (1, 28, 28)


@dataclass
class RegressionConfig:
    in_features: int = option(1, "input values (x)")
    out_features: int = option(1, "predicted values (y)")


@dataclass
class DiabetesConfig:
    in_features: int = option(8, "clinical measurements per patient")
    hidden_sizes: Tuple[int, ...] = option((6, 4), "hidden layer widths, each followed by a sigmoid")


@dataclass
class MnistMLPConfig:
    hidden_sizes: Tuple[int, ...] = option((512, 256, 128, 64, 32), "ReLU layer widths")
    num_classes: int = option(10, "output classes (10 digits)")


def check_image(image: Tensor, shape: List[int], what: str) -> None:
    """``image`` must be a float (B, C, H, W) batch with (C, H, W) == ``shape``."""
    check_dims(image, 4, "(batch, channels, height, width)", what)
    check_floating(image, what)
    if list(image.shape[1:]) != shape:
        raise ValueError(
            "{} has (channels, height, width) {} but {} was expected".format(
                what, list(image.shape[1:]), shape
            )
        )


class LinearRegression(nn.Module):
    __constants__ = ["in_features", "sigmoid"]

    def __init__(self, in_features: int, out_features: int, sigmoid: bool) -> None:
        super().__init__()
        self.in_features = in_features
        self.sigmoid = sigmoid
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        check_dims(x, 2, "(batch, features)", "x")
        check_floating(x, "x")
        check_features(x, self.in_features, "x")
        y = self.linear(x)
        return torch.sigmoid(y) if self.sigmoid else y


class DiabetesMLP(nn.Module):
    """Linear layers, each followed by a sigmoid; the last gives the probability of diabetes."""

    __constants__ = ["in_features"]

    def __init__(self, cfg: DiabetesConfig) -> None:
        super().__init__()
        self.in_features = cfg.in_features
        sizes = [cfg.in_features, *cfg.hidden_sizes, 1]
        layers: List[nn.Module] = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        check_dims(features, 2, "(batch, features)", "features")
        check_floating(features, "features")
        check_features(features, self.in_features, "features")
        return self.layers(features)  # (B, 1)


class MnistMLP(nn.Module):
    """Flattened digit -> ReLU layers -> class logits."""

    def __init__(self, cfg: MnistMLPConfig) -> None:
        super().__init__()
        sizes = [28 * 28, *cfg.hidden_sizes]
        layers: List[nn.Module] = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], cfg.num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        check_image(image, [1, 28, 28], "image")
        return self.layers(image.flatten(1))  # (B, 784) -> (B, classes)


def _vector_signature(name: str, size: int, output: str, out_size: int, doc: str, meaning: str = "logits") -> Signature:
    return Signature(
        inputs=(TensorSpec(name, "float32", ("batch", size), "one row per example"),),
        outputs=(TensorSpec(output, "float32", ("batch", out_size), doc, meaning=meaning),),
    )


def image_signature(num_classes: int) -> Signature:
    return Signature(
        inputs=(TensorSpec("image", "float32", ("batch", *MNIST_SHAPE), "grey digits, normalised"),),
        outputs=(TensorSpec("logits", "float32", ("batch", num_classes), "class scores"),),
    )


def image_example(batch: int, generator: torch.Generator) -> ExampleInputs:
    return (torch.randn(batch, *MNIST_SHAPE, generator=generator),)


def _vector_example(size: int, batch: int, generator: torch.Generator) -> ExampleInputs:
    return (torch.randn(batch, size, generator=generator),)


_COURSE = "PyTorch深度学习实践"
# The digit models' recipe. The course trains 10 epochs of SGD (lr 0.01, momentum 0.5) on 60,000
# images; on the 8,000 bundled ones that reaches ~96.8% (mnist-cnn). Adam, cosine decay and
# 2-pixel shifts: 99%.
IMAGE_RECIPE = Recipe(epochs=30, batch_size=64, lr=2e-3, weight_decay=1e-4, schedule="cosine", shift_augment=2)
# Fills the sizes of a vector data set: features in, values out.
_VECTOR_FIELDS = {"in_features": "features", "out_features": "targets"}

register_model(
    ModelSpec(
        name="linear-regression",
        config_cls=RegressionConfig,
        builder=lambda cfg: LinearRegression(cfg.in_features, cfg.out_features, False),
        task="regression",
        signature=lambda cfg: _vector_signature("x", cfg.in_features, "prediction", cfg.out_features, "y"),
        example_inputs=lambda cfg, b, t, g: _vector_example(cfg.in_features, b, g),
        stateful=False,
        default_data="regression-toy",
        recipe=Recipe(epochs=100, batch_size=16, lr=0.05, optimizer="sgd"),
        data_fields=_VECTOR_FIELDS,
        description="Linear(1, 1): fits y = 2x",
        origin=f"{_COURSE} lecture 5: linear regression",
    )
)
register_model(
    ModelSpec(
        name="logistic-regression",
        config_cls=RegressionConfig,
        builder=lambda cfg: LinearRegression(cfg.in_features, cfg.out_features, True),
        task="binary-classification",
        signature=lambda cfg: _vector_signature("x", cfg.in_features, "probability", cfg.out_features, "P(class 1)", "probability"),
        example_inputs=lambda cfg, b, t, g: _vector_example(cfg.in_features, b, g),
        stateful=False,
        default_data="regression-toy",
        recipe=Recipe(epochs=100, batch_size=16, lr=0.5, optimizer="sgd"),
        data_fields=_VECTOR_FIELDS,
        description="sigmoid(Linear(1, 1)): probability of the positive class",
        origin=f"{_COURSE} lecture 6: logistic regression",
    )
)
register_model(
    ModelSpec(
        name="diabetes-mlp",
        config_cls=DiabetesConfig,
        builder=DiabetesMLP,
        task="binary-classification",
        signature=lambda cfg: _vector_signature("features", cfg.in_features, "probability", 1, "P(diabetes)", "probability"),
        example_inputs=lambda cfg, b, t, g: _vector_example(cfg.in_features, b, g),
        stateful=False,
        default_data="diabetes",
        recipe=Recipe(epochs=1000, batch_size=532, lr=0.005),  # full batch, as the course
        data_fields={"in_features": "features"},
        description="8-6-4-1 MLP with sigmoids: probability of diabetes",
        origin=f"{_COURSE} lecture 7: multiple-dimension input",
    )
)
register_model(
    ModelSpec(
        name="mnist-mlp",
        config_cls=MnistMLPConfig,
        builder=MnistMLP,
        task="classification",
        signature=lambda cfg: image_signature(cfg.num_classes),
        example_inputs=lambda cfg, b, t, g: image_example(b, g),
        stateful=False,
        default_data="mnist",
        recipe=IMAGE_RECIPE,
        data_fields={"num_classes": "classes"},
        description="784-512-256-128-64-32-10 ReLU MLP on flattened digits",
        origin=f"{_COURSE} lecture 9: softmax classifier",
    )
)
