"""Encoders: torchvision's state-dict layout, feature-map geometry, weights files, errors.

Runs without torchvision: the layouts come from tests/fixtures/torchvision_keys.json
(written by tests/fixtures/make_torchvision_keys.py). tests/test_torchvision_compat.py
compares the feature values with torchvision's where it is installed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from urllib.error import URLError

import pytest
import safetensors.torch
import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models.encoders import ENCODERS, build_encoder, list_encoders
from pixelwise.models.encoders.base import Encoder, adapt_input_weight, dilate

FIXTURE = Path(__file__).parent / "fixtures" / "torchvision_keys.json"
HEAD_KEY = {"vgg": "classifier.6.weight", "resnet": "fc.weight", "mobilenet": "classifier.1.weight"}
CHANNELS = {
    "vgg16": (64, 128, 256, 512, 512),
    "vgg16_bn": (64, 128, 256, 512, 512),
    "resnet18": (64, 64, 128, 256, 512),
    "resnet34": (64, 64, 128, 256, 512),
    "resnet50": (64, 256, 512, 1024, 2048),
    "resnet101": (64, 256, 512, 1024, 2048),
    "mobilenet_v2": (16, 24, 32, 96, 1280),
    "mobilenet_v3_large": (16, 24, 40, 112, 960),
}
REDUCTIONS = {32: (2, 4, 8, 16, 32), 16: (2, 4, 8, 16, 16), 8: (2, 4, 8, 8, 8)}


@pytest.fixture(scope="module")
def torchvision_layouts() -> dict[str, dict[str, list[int]]]:
    return json.loads(FIXTURE.read_text())["classifiers"]


def head_key(name: str) -> str:
    return next(key for family, key in HEAD_KEY.items() if name.startswith(family))


def randomized(encoder: Encoder) -> Encoder:
    """``encoder`` in eval mode with random BatchNorm affine parameters and statistics."""
    for m in encoder.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, std=0.1)
            m.running_mean.normal_(std=0.1)
            m.running_var.uniform_(0.5, 1.5)
    return encoder.eval()


def torchvision_file(encoder: Encoder, name: str, path: Path) -> Path:
    """Save ``encoder`` as torchvision would save the classifier: its keys plus a head."""
    state = {**encoder.state_dict(), head_key(name): torch.randn(10, encoder.channels[-1])}
    if path.suffix == ".safetensors":
        safetensors.torch.save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def expected_sizes(
    h: int, w: int, reductions: tuple[int, ...], ceil: bool
) -> list[tuple[int, int]]:
    """Map sizes when every reduction step halves H and W (rounding up or down)."""
    sizes, previous = [], 1
    for r in reductions:
        if r > previous:
            h, w = (-(-h // 2), -(-w // 2)) if ceil else (h // 2, w // 2)
        sizes.append((h, w))
        previous = r
    return sizes


def last_map(encoder: Encoder, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return encoder(x)[-1]


def test_list_encoders_names_the_builtins() -> None:
    assert list_encoders() == list(ENCODERS) == list(CHANNELS)


@pytest.mark.parametrize("name", ENCODERS)
def test_state_dict_has_torchvisions_keys_and_shapes(name: str, torchvision_layouts) -> None:
    with torch.device("meta"):  # shapes only: skip allocating and initialising the weights
        encoder = build_encoder(name)
    ours = [(k, list(v.shape)) for k, v in encoder.state_dict().items()]
    assert ours == list(torchvision_layouts[name].items())


@pytest.mark.parametrize("name", ENCODERS)
def test_feature_maps_at_each_output_stride(name: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 3, 33, 47)
    for output_stride, reductions in REDUCTIONS.items():
        encoder = build_encoder(name, output_stride=output_stride).eval()
        with torch.no_grad():
            maps = encoder(x)
        assert encoder.channels == CHANNELS[name]
        assert encoder.reductions == reductions
        assert encoder.output_stride == output_stride
        assert [m.shape[1] for m in maps] == list(CHANNELS[name])
        sizes = expected_sizes(33, 47, reductions, ceil=not name.startswith("vgg"))
        assert [tuple(m.shape[-2:]) for m in maps] == sizes


def test_resnet_dilation_follows_replace_stride_with_dilation() -> None:
    """os 8: layer3/layer4 keep stride 1; each first block keeps the previous dilation."""
    encoder = build_encoder("resnet50", output_stride=8)
    layer3, layer4 = encoder.layer3, encoder.layer4
    assert [b.conv2.dilation[0] for b in layer3] == [1] + [2] * 5
    assert [b.conv2.dilation[0] for b in layer4] == [2, 4, 4]
    assert layer3[0].conv2.stride == layer4[0].downsample[0].stride == (1, 1)
    basic = build_encoder("resnet18", output_stride=16).layer4
    assert [(b.conv1.dilation[0], b.conv2.dilation[0]) for b in basic] == [(1, 2), (2, 2)]


def test_vgg_dilation_replaces_the_last_pools() -> None:
    features = build_encoder("vgg16", output_stride=8).features
    pools = [m for m in features if isinstance(m, nn.MaxPool2d)]
    shapes = [(p.kernel_size, p.stride, p.padding) for p in pools]
    assert shapes == [(2, 2, 0)] * 3 + [(3, 1, 1)] * 2
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    assert [c.dilation[0] for c in convs] == [1] * 10 + [2] * 3
    assert all(c.padding == c.dilation for c in convs)


def test_mobilenet_stages_and_dilation() -> None:
    v3 = build_encoder("mobilenet_v3_large", output_stride=16)
    assert v3.stage_starts == (0, 2, 4, 7, 13)
    assert build_encoder("mobilenet_v2").stage_starts == (0, 2, 4, 7, 14)
    depthwise = [block.block[1][0] for block in v3.features[12:16]]
    assert [(c.stride, c.dilation, c.padding) for c in depthwise] == [
        ((1, 1), (1, 1), (1, 1)),
        ((1, 1), (2, 2), (4, 4)),
        ((1, 1), (2, 2), (4, 4)),
        ((1, 1), (2, 2), (4, 4)),
    ]
    with torch.no_grad():
        low, high = v3.forward_blocks(torch.randn(1, 3, 64, 64), (4, 16))
    assert low.shape == (1, 40, 8, 8) and high.shape == (1, 960, 4, 4)


def test_dilate_trades_strides_past_the_output_stride() -> None:
    assert dilate([2, 1, 2, 2, 1], 4) == [(2, 1), (1, 1), (2, 1), (1, 2), (1, 2)]
    assert dilate([2, 2, 2], 32) == [(2, 1), (2, 1), (2, 1)]


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("vgg16_bn", ".pth"),
        ("resnet18", ".pth"),
        ("resnet18", ".safetensors"),
        ("mobilenet_v2", ".safetensors"),
        ("mobilenet_v3_large", ".pth"),
    ],
)
def test_torchvision_format_file_round_trip(name: str, suffix: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = randomized(build_encoder(name))
    path = torchvision_file(source, name, tmp_path / f"{name}{suffix}")
    loaded = build_encoder(name, weights=path).eval()
    x = torch.randn(1, 3, 40, 36)
    with torch.no_grad():
        assert all(map(torch.equal, source(x), loaded(x)))


def test_file_without_batch_counters_loads(tmp_path: Path) -> None:
    """Old torchvision files predate ``num_batches_tracked``."""
    state = build_encoder("resnet18").state_dict()
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old.pth")
    loaded = build_encoder("resnet18", weights=tmp_path / "old.pth")
    assert torch.equal(loaded.conv1.weight, state["conv1.weight"])


def test_mismatched_file_lists_the_keys(tmp_path: Path) -> None:
    state = build_encoder("resnet18").state_dict()
    del state["layer4.1.bn2.weight"]
    state["layer5.weight"] = torch.zeros(1)
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(PixelwiseError) as err:
        build_encoder("resnet18", weights=tmp_path / "bad.pth")
    message = str(err.value)
    assert "bad.pth" in message and "'resnet18'" in message
    assert "1 missing key: layer4.1.bn2.weight" in message
    assert "1 unexpected key: layer5.weight" in message
    assert "1 shape mismatch: conv1.weight (file (64, 3, 3, 3), model (64, 3, 7, 7))" in message


def test_many_mismatches_are_counted_not_all_listed(tmp_path: Path) -> None:
    state = build_encoder("mobilenet_v2").state_dict()
    torch.save({k: v for k, v in state.items() if k.startswith("features.0.")}, tmp_path / "w.pth")
    with pytest.raises(PixelwiseError, match=r"missing keys: .*, … and \d+ more") as err:
        build_encoder("mobilenet_v2", weights=tmp_path / "w.pth")
    assert len(str(err.value)) < 1000


@pytest.mark.parametrize("name", ["vgg16", "resnet18", "mobilenet_v3_large"])
def test_gray_input_reuses_the_summed_rgb_filters(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    rgb = randomized(build_encoder(name))
    path = torchvision_file(rgb, name, tmp_path / "w.pth")
    gray = build_encoder(name, weights=path, in_channels=1).eval()
    image = torch.rand(1, 1, 37, 45)
    torch.testing.assert_close(
        last_map(gray, image), last_map(rgb, image.repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-4
    )


def test_other_channel_counts_repeat_the_rgb_filters_scaled(tmp_path: Path) -> None:
    torch.manual_seed(0)
    rgb = build_encoder("resnet18")
    path = torchvision_file(rgb, "resnet18", tmp_path / "w.pth")
    five = build_encoder("resnet18", weights=path, in_channels=5)
    w = rgb.conv1.weight.detach()
    expected = torch.cat([w, w[:, :2]], dim=1) * (3 / 5)
    torch.testing.assert_close(five.conv1.weight.detach(), expected)
    assert last_map(five.eval(), torch.randn(1, 5, 32, 32)).shape == (1, 512, 1, 1)


def test_adapt_input_weight_keeps_the_summed_filter_for_multiples_of_three() -> None:
    weight = torch.randn(4, 3, 3, 3)
    for channels in (1, 3, 6, 9):
        adapted = adapt_input_weight(weight, channels)
        assert adapted.shape == (4, channels, 3, 3)
        torch.testing.assert_close(adapted.sum(dim=1), weight.sum(dim=1))
    two = adapt_input_weight(weight, 2)
    torch.testing.assert_close(two, weight[:, :2] * 1.5)


@pytest.mark.parametrize("name", ["vgg16_bn", "resnet34", "mobilenet_v2"])
def test_random_init_accepts_any_channel_count(name: str) -> None:
    encoder = build_encoder(name, in_channels=4)
    assert encoder.in_channels == 4
    assert encoder(torch.randn(2, 4, 32, 32))[0].shape[:2] == (2, CHANNELS[name][0])


def test_imagenet_offline_and_uncached_names_url_and_cache_path(monkeypatch, tmp_path) -> None:
    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(PixelwiseError) as err:
        build_encoder("resnet50", weights="imagenet")
    message = str(err.value)
    assert "https://download.pytorch.org/models/resnet50-0676ba61.pth" in message
    assert str(tmp_path / "checkpoints" / "resnet50-0676ba61.pth") in message


def test_imagenet_reads_the_hub_cache(monkeypatch, tmp_path: Path) -> None:
    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    torch.manual_seed(0)
    source = randomized(build_encoder("mobilenet_v3_large"))
    (tmp_path / "checkpoints").mkdir()
    cached = tmp_path / "checkpoints" / "mobilenet_v3_large-8738ca79.pth"
    torchvision_file(source, "mobilenet_v3_large", cached)
    loaded = build_encoder("mobilenet_v3_large", weights="imagenet").eval()
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(last_map(loaded, x), last_map(source, x))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "resnet152"}, r"unknown encoder 'resnet152'; choose from: vgg16, .*timm:<name>"),
        ({"name": "resnet18", "output_stride": 4}, r"output_stride 4; choose from: 8, 16, 32"),
        ({"name": "vgg16", "output_stride": 12}, r"output_stride 12"),
        ({"name": "resnet18", "in_channels": 0}, r"in_channels .* got 0"),
        ({"name": "resnet18", "weights": 3}, r"weights must be None, 'imagenet' or a path"),
        ({"name": "resnet18", "weights": "missing.pth"}, r"weights file not found: 'missing.pth'"),
    ],
)
def test_user_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(PixelwiseError, match=match):
        build_encoder(**kwargs)


def test_unreadable_weights_file(tmp_path: Path) -> None:
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    (tmp_path / "junk.safetensors").write_text("not a checkpoint")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    torch.save({"model": {"conv1.weight": torch.zeros(1)}}, tmp_path / "nested.pth")
    for file, match in [
        ("junk.pth", "cannot read weights"),
        ("junk.safetensors", "cannot read weights"),
        ("list.pth", "holds no state dict"),
        ("nested.pth", r"1 shape mismatch: conv1\.weight \(file \(1,\), model \(64, 3, 7, 7\)\)"),
    ]:
        with pytest.raises(PixelwiseError, match=match):
            build_encoder("resnet18", weights=tmp_path / file)


def test_timm_missing_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(PixelwiseError, match=r"pip install \"pixelwise\[timm\]\""):
        build_encoder("timm:resnet18")


def test_timm_model_as_encoder() -> None:
    pytest.importorskip("timm")
    torch.manual_seed(0)
    encoder = build_encoder("timm:test_resnet", output_stride=16, in_channels=1).eval()
    assert encoder.reductions == (2, 4, 8, 16, 16) and encoder.output_stride == 16
    maps = encoder(torch.randn(1, 1, 64, 64))
    assert [m.shape[1] for m in maps] == list(encoder.channels)
    assert maps[-1].shape[-2:] == (4, 4)
    with pytest.raises(PixelwiseError, match="unknown timm model"):
        build_encoder("timm:no_such_model")


def test_timm_weights_file(tmp_path: Path) -> None:
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    classifier = timm.create_model("test_resnet", pretrained=False).eval()
    torch.save(classifier.state_dict(), tmp_path / "timm.pth")
    loaded = build_encoder("timm:test_resnet", weights=tmp_path / "timm.pth").eval()
    gray = build_encoder("timm:test_resnet", weights=tmp_path / "timm.pth", in_channels=1).eval()
    image = torch.rand(1, 1, 64, 64)
    rgb = image.repeat(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.equal(loaded(rgb)[-1], classifier.forward_features(rgb))
        torch.testing.assert_close(gray(image)[-1], loaded(rgb)[-1], rtol=1e-4, atol=1e-4)

    state = classifier.state_dict()
    missing = next(iter(state))
    del state[missing]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(PixelwiseError, match=f"1 missing key: {re.escape(missing)}"):
        build_encoder("timm:test_resnet", weights=tmp_path / "bad.pth")
