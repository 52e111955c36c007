"""Small convolutional networks for 28x28 digits ("PyTorch深度学习实践", lectures 10 and 11).

* ``mnist-cnn``: conv 1->10 (5x5), max-pool, ReLU, conv 10->20 (5x5), max-pool, ReLU,
  linear 320->10.
* ``mnist-inception``: conv 1->10, InceptionA (88 channels out: 1x1, 5x5, double 3x3 and
  pooled branches, as in GoogLeNet), conv 88->20, InceptionA, linear 1408->10.
* ``mnist-resnet``: conv 1->16, residual block, conv 16->32, residual block, linear 512->10
  (He et al. 2016's identity shortcut around two 3x3 convolutions). The course's code calls
  ``self.view`` on the module, a bug; here the tensor is flattened.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from zoo.models.classic import IMAGE_RECIPE, check_image, image_example, image_signature
from zoo.models.common import option
from zoo.registry import ModelSpec, register_model


@dataclass
class MnistCNNConfig:
    num_classes: int = option(10, "output classes (10 digits)")


class InceptionA(nn.Module):
    """Four parallel branches concatenated on channels: 16 + 24 + 24 + 24 = 88."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_2 = nn.Conv2d(16, 24, kernel_size=5, padding=2)
        self.branch3x3_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch3x3_2 = nn.Conv2d(16, 24, kernel_size=3, padding=1)
        self.branch3x3_3 = nn.Conv2d(24, 24, kernel_size=3, padding=1)
        self.branch_pool = nn.Conv2d(in_channels, 24, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        one = self.branch1x1(x)
        five = self.branch5x5_2(self.branch5x5_1(x))
        three = self.branch3x3_3(self.branch3x3_2(self.branch3x3_1(x)))
        pooled = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([one, five, three, pooled], dim=1)  # (B, 88, H, W)


class ResidualBlock(nn.Module):
    """relu(x + conv(relu(conv(x)))), channels and size kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(x + y)


class MnistCNN(nn.Module):
    def __init__(self, cfg: MnistCNNConfig) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.pooling = nn.MaxPool2d(2)
        self.fc = nn.Linear(320, cfg.num_classes)

    def forward(self, image: Tensor) -> Tensor:
        check_image(image, [1, 28, 28], "image")
        x = F.relu(self.pooling(self.conv1(image)))  # (B, 10, 12, 12)
        x = F.relu(self.pooling(self.conv2(x)))  # (B, 20, 4, 4)
        return self.fc(x.flatten(1))  # (B, classes)


class MnistInception(nn.Module):
    def __init__(self, cfg: MnistCNNConfig) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(88, 20, kernel_size=5)
        self.incep1 = InceptionA(10)
        self.incep2 = InceptionA(20)
        self.pooling = nn.MaxPool2d(2)
        self.fc = nn.Linear(1408, cfg.num_classes)

    def forward(self, image: Tensor) -> Tensor:
        check_image(image, [1, 28, 28], "image")
        x = F.relu(self.pooling(self.conv1(image)))  # (B, 10, 12, 12)
        x = self.incep1(x)  # (B, 88, 12, 12)
        x = F.relu(self.pooling(self.conv2(x)))  # (B, 20, 4, 4)
        x = self.incep2(x)  # (B, 88, 4, 4)
        return self.fc(x.flatten(1))  # (B, 1408) -> (B, classes)


class MnistResNet(nn.Module):
    def __init__(self, cfg: MnistCNNConfig) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)
        self.rblock1 = ResidualBlock(16)
        self.rblock2 = ResidualBlock(32)
        self.pooling = nn.MaxPool2d(2)
        self.fc = nn.Linear(512, cfg.num_classes)

    def forward(self, image: Tensor) -> Tensor:
        check_image(image, [1, 28, 28], "image")
        x = self.pooling(F.relu(self.conv1(image)))  # (B, 16, 12, 12)
        x = self.rblock1(x)
        x = self.pooling(F.relu(self.conv2(x)))  # (B, 32, 4, 4)
        x = self.rblock2(x)
        return self.fc(x.flatten(1))  # (B, 512) -> (B, classes); the course wrote self.view


def _register(name: str, model_cls: type, description: str, lecture: str) -> None:
    register_model(
        ModelSpec(
            name=name,
            config_cls=MnistCNNConfig,
            builder=model_cls,
            task="classification",
            signature=lambda cfg: image_signature(cfg.num_classes),
            example_inputs=lambda cfg, b, t, g: image_example(b, g),
            stateful=False,
            default_data="mnist",
            recipe=IMAGE_RECIPE,
            data_fields={"num_classes": "classes"},
            description=description,
            origin=f"PyTorch深度学习实践 {lecture}",
        )
    )


_register("mnist-cnn", MnistCNN, "conv 1->10, pool, conv 10->20, pool, linear 320->10",
          "lecture 10: basic CNN")  # fmt: skip
_register("mnist-inception", MnistInception, "conv, InceptionA, conv, InceptionA, linear 1408->10",
          "lecture 11: GoogLeNet InceptionA")  # fmt: skip
_register("mnist-resnet", MnistResNet, "conv, residual block (16), conv, residual block (32), linear 512->10",
          "lecture 11: residual network")  # fmt: skip
