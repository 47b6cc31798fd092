"""interpolate (every mode, antialias, recompute_scale_factor), grid_sample and affine_grid against torch:
values and gradients in float32 and float64, gradcheck, and the errors for bad input."""
import numpy as np
import pytest
import torch

import ember
from tests._helpers import check


def _interp(**kw):
    return lambda L, x: L.nn.functional.interpolate(x, **kw)


@pytest.mark.parametrize("shape,kw", [
    ((1, 2, 5), dict(size=8, mode="nearest")),
    ((1, 2, 7), dict(scale_factor=0.6, mode="nearest")),
    ((1, 2, 4, 5), dict(scale_factor=(1.7, 0.5), mode="nearest")),
    ((1, 1, 3, 4, 2), dict(size=(5, 3, 3), mode="nearest")),
    ((1, 2, 5), dict(size=8, mode="nearest-exact")),
    ((1, 2, 5, 3), dict(scale_factor=1.5, mode="nearest-exact")),
    ((2, 2, 5), dict(size=9, mode="linear")),
    ((2, 2, 5), dict(size=3, mode="linear", align_corners=True)),
    ((1, 2, 4, 5), dict(size=(7, 3), mode="bilinear")),
    ((1, 2, 4, 5), dict(scale_factor=1.5, mode="bilinear", align_corners=True)),
    ((1, 2, 4, 5), dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True)),
    ((1, 2, 5, 4), dict(scale_factor=1.7, mode="bilinear")),
    ((1, 2, 4, 5), dict(size=(7, 3), mode="bicubic")),
    ((1, 2, 4, 4), dict(scale_factor=2, mode="bicubic", align_corners=True)),
    ((1, 2, 6, 5), dict(scale_factor=0.7, mode="bicubic")),
    ((1, 1, 3, 4, 2), dict(size=(5, 3, 4), mode="trilinear")),
    ((1, 1, 3, 4, 2), dict(scale_factor=1.5, mode="trilinear", align_corners=True)),
    ((1, 2, 7), dict(size=3, mode="area")),
    ((1, 2, 7, 5), dict(size=(3, 4), mode="area")),
    ((1, 1, 4, 5, 6), dict(scale_factor=0.5, mode="area")),
    ((1, 2, 9, 8), dict(size=(4, 3), mode="bilinear", antialias=True)),
    ((1, 2, 9, 8), dict(size=(5, 12), mode="bilinear", antialias=True)),
    ((1, 2, 9, 8), dict(size=(4, 3), mode="bicubic", antialias=True)),
    ((1, 2, 9, 8), dict(scale_factor=0.45, mode="bicubic", antialias=True, align_corners=True)),
])
def test_interpolate_matches_torch(shape, kw):
    check(_interp(**kw), shape, gradgrad=False)


def test_interpolate_gradgrad_and_modules():
    check(_interp(size=(5, 3), mode="bicubic"), (1, 1, 3, 4))
    check(lambda L, x: L.nn.Upsample(scale_factor=2, mode="trilinear")(x), (1, 1, 2, 2, 3), gradgrad=False)
    check(lambda L, x: L.nn.Upsample(size=(3, 7), mode="bicubic", align_corners=True)(x), (1, 2, 4, 4),
          gradgrad=False)


def test_interpolate_errors():
    F = ember.nn.functional
    x = ember.randn(1, 2, 4, 4)
    with pytest.raises(NotImplementedError, match="mode 'trilinear' needs a 5D input"):
        F.interpolate(x, size=3, mode="trilinear")
    with pytest.raises(ValueError, match="Anti-alias option is restricted to bilinear and bicubic"):
        F.interpolate(x, size=3, mode="nearest", antialias=True)
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        F.interpolate(x, size=3, mode="area", align_corners=True)
    with pytest.raises(ValueError, match="only one of size or scale_factor should be defined"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="recompute_scale_factor is not meaningful with an explicit size"):
        F.interpolate(x, size=3, recompute_scale_factor=True)
    with pytest.raises(ValueError, match="Input and output must have the same number of spatial dimensions"):
        F.interpolate(x, size=(3, 3, 3))
    with pytest.raises(NotImplementedError, match="mode 'cubic' is not supported"):
        F.interpolate(x, size=3, mode="cubic")


@pytest.mark.parametrize("mode,padding_mode,align_corners", [
    ("bilinear", "zeros", False), ("bilinear", "border", True), ("bilinear", "reflection", False),
    ("bilinear", "reflection", True), ("nearest", "zeros", True), ("nearest", "reflection", False),
    ("bicubic", "zeros", False), ("bicubic", "border", True), ("bicubic", "reflection", False),
])
def test_grid_sample_2d(mode, padding_mode, align_corners):
    grid = np.random.default_rng(5).uniform(-1.3, 1.3, size=(2, 3, 4, 2))
    fn = lambda L, x, g: L.nn.functional.grid_sample(x, g, mode=mode, padding_mode=padding_mode,  # noqa: E731
                                                     align_corners=align_corners)
    check(fn, (2, 2, 4, 5), grid, gradgrad=False, gradcheck=mode == "bilinear")


@pytest.mark.parametrize("mode,padding_mode", [("bilinear", "zeros"), ("bilinear", "reflection"),
                                               ("nearest", "border")])
def test_grid_sample_3d(mode, padding_mode):
    grid = np.random.default_rng(6).uniform(-1.2, 1.2, size=(1, 2, 3, 2, 3))
    fn = lambda L, x, g: L.nn.functional.grid_sample(x, g, mode=mode, padding_mode=padding_mode,  # noqa: E731
                                                     align_corners=False)
    check(fn, (1, 2, 3, 4, 3), grid, gradgrad=False, gradcheck=mode != "nearest")


@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid(align_corners):
    check(lambda L, t: L.nn.functional.affine_grid(t, (2, 3, 4, 5), align_corners=align_corners), (2, 2, 3))
    check(lambda L, t: L.nn.functional.affine_grid(t, [1, 1, 2, 3, 4], align_corners=align_corners), (1, 3, 4),
          gradgrad=False)
    # the spatial-transformer idiom: affine_grid then grid_sample, gradient w.r.t. theta
    check(lambda L, t, x: L.nn.functional.grid_sample(
        x, L.nn.functional.affine_grid(t, (1, 2, 3, 3), align_corners=align_corners), align_corners=align_corners),
        (1, 2, 3), (1, 2, 4, 4), gradgrad=False, low=-0.9, high=0.9)


def test_grid_sample_affine_grid_errors():
    F = ember.nn.functional
    with pytest.raises(ValueError, match="expected padding_mode to be 'zeros', 'border', or 'reflection'"):
        F.grid_sample(ember.randn(1, 1, 2, 2), ember.zeros(1, 2, 2, 2), padding_mode="wrap")
    with pytest.raises(RuntimeError, match=r"grid_sample: expected a 4-D input \(N, C, H, W\) with a grid"):
        F.grid_sample(ember.randn(1, 1, 2, 2), ember.zeros(1, 2, 2, 3))
    with pytest.raises(ValueError, match="bicubic interpolation only supports 4D input"):
        F.grid_sample(ember.randn(1, 1, 2, 2, 2), ember.zeros(1, 2, 2, 2, 3), mode="bicubic")
    with pytest.raises(ValueError, match="Expected a batch of 2D affine matrices of shape Nx2x3"):
        F.affine_grid(ember.zeros(2, 3, 3), (2, 1, 4, 4))
    with pytest.raises(NotImplementedError, match="affine_grid only supports 4D and 5D sizes"):
        F.affine_grid(ember.zeros(2, 2, 3), (2, 1, 4))
    _ = torch
