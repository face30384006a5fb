"""DeepLab v2 (Chen et al., TPAMI 2018) as the paper trains it: dilated backbone + ASPP-v2.

The paper (section IV) uses DeepLab with a ResNet-101 backbone. Following DeepLab v2 the
last two ResNet stages trade their stride for dilation 2 and 4, so the features have output
stride 8; :class:`~c2fbench.models.aspp.ASPPv2` turns them into class scores, and the scores
are upsampled bilinearly to the input size.

Differences from the Caffe original, all deliberate:

- The backbone is torchvision's ResNet ("v1.5": stride on the 3x3 conv of a bottleneck,
  not the 1x1), so ImageNet weights come from torchvision's weights API; the COCO-pretrained
  Caffe model that DeepLab v2 starts from is not used.
- Inputs are RGB in [0, 1] normalised with ImageNet mean/std (torchvision's convention),
  not BGR minus the Caffe mean.
- No multi-scale (MSC) branches; a trainer may add them around the model.

``deeplab_v2_mobilenet`` is a light variant for CPU runs (the demo), not in the paper.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from c2fbench.errors import InputError
from c2fbench.models.aspp import PAPER_RATES, ASPPv2

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, for inputs scaled to [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)

# Rates for the MobileNet variant. The paper's rates 6..24 on 41x41 features (321 crops at
# stride 8) reach 0.15..0.59 of the map; the demo's 128x128 images give 8x8 features at
# stride 16, where 6..24 would sample almost only zero padding. (1, 2, 3, 4) keeps about
# the paper's proportions (0.12..0.5 of the map).
MOBILENET_RATES = (1, 2, 3, 4)


class DeepLabV2(nn.Module):
    """Logits (B, num_classes, H, W) of normalised images (B, 3, H, W).

    ``backbone`` maps (B, 3, H, W) to (B, C, H / output_stride, W / output_stride) (rounded
    up); ``head`` maps those features to class scores. Build it with a function of
    :data:`c2fbench.models.MODELS` rather than directly.
    """

    def __init__(self, backbone: nn.Module, head: ASPPv2, *, num_classes: int, output_stride: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.num_classes = num_classes
        self.output_stride = output_stride

    # False while a trainer takes the loss at the output stride (trainers/train.py): forward's
    # signature stays (x) for the ONNX exporter and DistributedDataParallel
    upsample = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at the image's size; with ``upsample`` False, at the output stride,
        (B, C, H/8, W/8) rounded up (what DeepLab v2 trains on, its labels shrunk to that size)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"DeepLabV2 expects (B, 3, H, W) images, got shape {tuple(x.shape)}")
        logits = self.head(self.backbone(x))
        if not self.upsample:
            return logits
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def param_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(backbone parameters, head parameters): the DeepLab recipe gives the head 10x lr.

        Every parameter of the model is in exactly one of the two lists.
        """
        return list(self.backbone.parameters()), list(self.head.parameters())


def _check_num_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
    return num_classes


def _resnet_features(resnet: torchvision.models.ResNet) -> nn.Sequential:
    """The convolutional part of a torchvision ResNet (no pooling, no fc), names kept."""
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
    return nn.Sequential(OrderedDict((name, getattr(resnet, name)) for name in names))


def _deeplab_v2_resnet(depth: int, *, num_classes: int, pretrained_backbone: bool,
                       rates: Sequence[int]) -> DeepLabV2:
    num_classes = _check_num_classes(num_classes)
    if depth == 101:
        build, weights = torchvision.models.resnet101, torchvision.models.ResNet101_Weights.IMAGENET1K_V1
    else:
        build, weights = torchvision.models.resnet50, torchvision.models.ResNet50_Weights.IMAGENET1K_V1
    resnet = build(weights=weights if pretrained_backbone else None,
                   replace_stride_with_dilation=[False, True, True])  # layer3 dilation 2, layer4 4
    head = ASPPv2(resnet.fc.in_features, num_classes, rates=rates)  # 2048 channels
    return DeepLabV2(_resnet_features(resnet), head, num_classes=num_classes, output_stride=8)


def deeplab_v2_resnet101(*, num_classes: int = 21, pretrained_backbone: bool = False,
                         rates: Sequence[int] = PAPER_RATES) -> DeepLabV2:
    """DeepLab v2 with ResNet-101, output stride 8, ASPP rates 6, 12, 18, 24: the paper's model.

    ``pretrained_backbone`` loads torchvision's ``ResNet101_Weights.IMAGENET1K_V1`` (a
    download on first use); the ASPP head always starts fresh.
    """
    return _deeplab_v2_resnet(101, num_classes=num_classes, pretrained_backbone=pretrained_backbone, rates=rates)


def deeplab_v2_resnet50(*, num_classes: int = 21, pretrained_backbone: bool = False,
                        rates: Sequence[int] = PAPER_RATES) -> DeepLabV2:
    """As :func:`deeplab_v2_resnet101` with ResNet-50 (``ResNet50_Weights.IMAGENET1K_V1``)."""
    return _deeplab_v2_resnet(50, num_classes=num_classes, pretrained_backbone=pretrained_backbone, rates=rates)


def deeplab_v2_mobilenet(*, num_classes: int = 21, pretrained_backbone: bool = False,
                         rates: Sequence[int] = MOBILENET_RATES) -> DeepLabV2:
    """A light DeepLab v2 for CPU runs: MobileNetV3-Large features + ASPP-v2, output stride 16.

    As torchvision's ``deeplabv3_mobilenet_v3_large``: ``mobilenet_v3_large(dilated=True)``
    (the last stage dilated instead of strided), all of ``features`` (960 channels out).
    ``pretrained_backbone`` loads ``MobileNet_V3_Large_Weights.IMAGENET1K_V1``. The default
    rates suit ~128x128 inputs (see ``MOBILENET_RATES``).
    """
    return _mobilenet_deeplab("large", 16, num_classes, pretrained_backbone, rates)


def deeplab_v2_mobilenet_small(*, num_classes: int = 21, pretrained_backbone: bool = False,
                               rates: Sequence[int] = MOBILENET_RATES) -> DeepLabV2:
    """As :func:`deeplab_v2_mobilenet` with MobileNetV3-Small (576 channels out, output
    stride 16, about a third of the compute), for faster CPU runs.
    ``pretrained_backbone`` loads ``MobileNet_V3_Small_Weights.IMAGENET1K_V1``."""
    return _mobilenet_deeplab("small", 16, num_classes, pretrained_backbone, rates)


# Rates for the output-stride-8 MobileNet variants: twice MOBILENET_RATES, the same
# fractions of a feature map twice as large.
MOBILENET_OS8_RATES = (2, 4, 6, 8)


def deeplab_v2_mobilenet_os8(*, num_classes: int = 21, pretrained_backbone: bool = False,
                             rates: Sequence[int] = MOBILENET_OS8_RATES) -> DeepLabV2:
    """As :func:`deeplab_v2_mobilenet` at DeepLab v2's output stride 8 (the stage at stride
    16 dilated too): 12x12 features on 96x96 crops instead of 6x6."""
    return _mobilenet_deeplab("large", 8, num_classes, pretrained_backbone, rates)


def deeplab_v2_mobilenet_small_os8(*, num_classes: int = 21, pretrained_backbone: bool = False,
                                   rates: Sequence[int] = MOBILENET_OS8_RATES) -> DeepLabV2:
    """As :func:`deeplab_v2_mobilenet_small` at output stride 8 (see
    :func:`deeplab_v2_mobilenet_os8`)."""
    return _mobilenet_deeplab("small", 8, num_classes, pretrained_backbone, rates)


_MOBILENETS = {
    "large": (torchvision.models.mobilenet_v3_large, torchvision.models.MobileNet_V3_Large_Weights.IMAGENET1K_V1),
    "small": (torchvision.models.mobilenet_v3_small, torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1),
}


def _mobilenet_deeplab(size: str, output_stride: int, num_classes: int, pretrained_backbone: bool,
                       rates: Sequence[int]) -> DeepLabV2:
    num_classes = _check_num_classes(num_classes)
    build, weights = _MOBILENETS[size]
    features = build(weights=weights if pretrained_backbone else None, dilated=True).features
    # torchvision's MobileNetV3 sets BatchNorm momentum 0.01, meant for long ImageNet
    # training; in a few epochs from scratch the running statistics then lag the weights so
    # far that the model predicts only background in eval mode (measured on the demo preset:
    # val mIoU 5.1 after 8 epochs with 0.01, 17.7 after 4 epochs with 0.1). PyTorch's default
    # 0.1 is used whether or not the backbone is pretrained, so that a checkpoint (which
    # stores no momentum) always rebuilds the model it was trained with.
    for module in features.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    if output_stride == 8:
        features = _stride_to_dilation(features)
    head = ASPPv2(features[-1].out_channels, num_classes, rates=rates)
    return DeepLabV2(features, head, num_classes=num_classes, output_stride=output_stride)


def _stride_to_dilation(features: nn.Sequential) -> nn.Sequential:
    """Halve the output stride of a dilated MobileNetV3 (16 -> 8), as DeepLab v2 does to
    ResNet: the last strided convolution keeps its dilation but takes stride 1, and every
    later convolution wider than 1x1 doubles its dilation (the last stage 2 -> 4). The
    weights' shapes are unchanged, so ImageNet weights still load."""
    convs = [m for m in features.modules() if isinstance(m, nn.Conv2d)]
    last = max(i for i, conv in enumerate(convs) if conv.stride == (2, 2))
    convs[last].stride = (1, 1)
    for conv in convs[last + 1:]:
        if conv.kernel_size[0] > 1:
            conv.dilation = (2 * conv.dilation[0], 2 * conv.dilation[1])
            conv.padding = tuple(d * (k - 1) // 2 for d, k in zip(conv.dilation, conv.kernel_size))
    return features


# DeepLab v2's other backbone is VGG-16 (Chen et al., TPAMI 2018, "DeepLab-LargeFOV" /
# "ASPP-VGG16"): plain 3x3 convolutions, the last pooling strides removed and the last
# stage dilated, output stride 8. The "lite" variant keeps that layout at a width and
# depth a CPU trains from scratch in seconds per epoch: a stride-2 stem of VGG_LITE_STEM
# channels, then (channels, convs, dilation) per stage, each stage but the last ending
# with a 2x2 max pooling (output stride 8 after two).
VGG_LITE_STEM = 16
VGG_LITE_STAGES = ((32, 1, 1), (64, 2, 1), (128, 2, 2))


def deeplab_v2_vgg_lite(*, num_classes: int = 21, pretrained_backbone: bool = False,
                        rates: Sequence[int] = MOBILENET_OS8_RATES) -> DeepLabV2:
    """DeepLab v2 on a slim VGG-style backbone (3x3 conv + BN + ReLU, output stride 8): the
    layout of DeepLab v2's VGG-16 variant at a fraction of its width and depth, for CPU runs
    from scratch (the demo). There are no published weights for it, so
    ``pretrained_backbone`` is refused (``c2fbench train classifier`` pretrains it on
    image-level labels)."""
    from torchvision.ops import Conv2dNormActivation

    num_classes = _check_num_classes(num_classes)
    if pretrained_backbone:
        raise InputError("deeplab_v2_vgg_lite has no published ImageNet weights; pretrain it with "
                         "`c2fbench train classifier` and pass --backbone-weights")
    layers: list[nn.Module] = [Conv2dNormActivation(3, VGG_LITE_STEM, kernel_size=3, stride=2)]
    channels = VGG_LITE_STEM
    for i, (width, convs, dilation) in enumerate(VGG_LITE_STAGES):
        for _ in range(convs):
            layers.append(Conv2dNormActivation(channels, width, kernel_size=3, dilation=dilation))
            channels = width
        if i < len(VGG_LITE_STAGES) - 1:
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
    features = nn.Sequential(*layers)
    head = ASPPv2(channels, num_classes, rates=rates)
    return DeepLabV2(features, head, num_classes=num_classes, output_stride=8)
