"""MiDaS networks against the official facts (../shared/reference/midas), and weight files."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from asmp.errors import AsmpError
from asmp.io.hdf5 import sha256_file
from asmp.preprocess.midas import SPECS, MiDaS, load_midas, network_size, preprocess
from asmp.weights import fetch_weights, hub_cache_path, load_state_dict

SMALL, HYBRID = "midas_v21_small_256", "dpt_hybrid_384"


def reference_keys(shared_dir: Path, model_type: str) -> list[tuple[str, str]]:
    text = (shared_dir / "reference" / "midas" / f"{model_type}.keys.tsv").read_text()
    return [tuple(line.split("\t")) for line in text.splitlines()]


def shape_str(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "scalar"


@pytest.mark.parametrize("model_type", list(SPECS))
def test_state_dict_equals_official_keys_shapes_and_order(shared_dir, model_type):
    with torch.device("meta"):
        net = MiDaS(model_type)
    got = [(k, shape_str(v)) for k, v in net.state_dict().items()]
    assert got == reference_keys(shared_dir, model_type)


@pytest.mark.parametrize(
    ("model_type", "hw"),
    [
        (SMALL, (256, 256)),
        (SMALL, (256, 320)),
        (HYBRID, (384, 384)),
        (HYBRID, (384, 512)),
        ("dpt_large_384", (384, 384)),
        ("dpt_large_384", (384, 512)),
    ],
)
def test_output_shape_is_input_size(model_type, hw):
    with torch.device("meta"):
        net = MiDaS(model_type)
        assert net(torch.zeros(1, 3, *hw)).shape == (1, *hw)


def assert_round_trip(net: MiDaS, tmp_path: Path, hw: tuple[int, int]) -> None:
    """Save ``net``'s state with torch.save, reload strictly, compare tensors and outputs."""
    torch.save(net.state_dict(), tmp_path / "ckpt.pt")
    loaded = load_midas(net.model_type, tmp_path / "ckpt.pt")
    for (k, a), (k2, b) in zip(net.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    x = torch.randn(1, 3, *hw)
    with torch.inference_mode():
        y = loaded(x)
        assert y.shape == (1, *hw) and torch.equal(y, net(x))


def test_random_small_checkpoint_round_trips_strictly(tmp_path):
    torch.manual_seed(0)
    assert_round_trip(MiDaS(SMALL).eval(), tmp_path, (256, 320))


def test_loader_accepts_training_checkpoint_without_bn_counters(tmp_path):
    state = {
        k: v for k, v in MiDaS(SMALL).state_dict().items() if not k.endswith("num_batches_tracked")
    }
    torch.save({"model": state, "optimizer": {}}, tmp_path / "train.pt")
    loaded = load_midas(SMALL, tmp_path / "train.pt").state_dict()
    assert torch.equal(loaded["scratch.layer1_rn.weight"], state["scratch.layer1_rn.weight"])
    assert loaded["pretrained.layer1.1.num_batches_tracked"] == 0


def test_loader_names_the_file_and_the_mismatch(tmp_path):
    torch.save(MiDaS(SMALL).state_dict(), tmp_path / "small.pt")
    with pytest.raises(AsmpError, match=r"not a dpt_hybrid_384 checkpoint: \d+ missing") as exc:
        load_midas(HYBRID, tmp_path / "small.pt")
    assert exc.value.path == str(tmp_path / "small.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AsmpError, match="cannot read as a torch checkpoint"):
        load_midas(SMALL, tmp_path / "junk.pt")


def test_efficientnet_regrouping_matches_timm_features():
    """MiDaS layer1..4 are timm's stride-4..32 features under the documented key mapping."""
    torch.manual_seed(0)
    net = MiDaS(SMALL).eval()
    timm_name = {
        "layer1.0": "conv_stem",
        "layer1.1": "bn1",
        "layer1.3": "blocks.0",
        "layer1.4": "blocks.1",
        "layer2.0": "blocks.2",
        "layer3.0": "blocks.3",
        "layer3.1": "blocks.4",
        "layer4.0": "blocks.5",
        "layer4.1": "blocks.6",
    }
    state = {}
    for key, value in net.pretrained.state_dict().items():
        layer, index, rest = key.split(".", 2)
        state[f"{timm_name[f'{layer}.{index}']}.{rest}"] = value
    ref = timm.create_model("tf_efficientnet_lite3", features_only=True, out_indices=(1, 2, 3, 4))
    ref.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 256, 320)
    with torch.inference_mode():
        for ours, theirs in zip(net.pretrained(x), ref.eval()(x), strict=True):
            torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


@pytest.fixture(scope="module")
def hybrid() -> MiDaS:
    """A randomly initialised dpt_hybrid_384 (123 M parameters: built once)."""
    torch.manual_seed(0)
    return MiDaS(HYBRID).eval()


def test_hybrid_taps_match_timm_at_native_size(hybrid):
    """At 384x384 (no position-grid resize) DPT's tokens are timm's own block outputs;
    the four features come at strides 4, 8, 16 and 32."""
    vit, taps = hybrid.pretrained.model, SPECS[HYBRID].vit_taps
    seen = []
    hooks = [
        vit.blocks[i].register_forward_hook(lambda mod, args, out: seen.append(out)) for i in taps
    ]
    x = torch.randn(1, 3, 384, 384)
    with torch.inference_mode():
        feats = hybrid.pretrained(x)
        for h in hooks:
            h.remove()
        theirs = vit.forward_intermediates(
            x,
            indices=list(taps),
            output_fmt="NLC",
            intermediates_only=True,
            return_prefix_tokens=True,
        )
    assert [f.shape[1:] for f in feats] == [
        (256, 96, 96),
        (512, 48, 48),
        (768, 24, 24),
        (768, 12, 12),
    ]
    for ours, (patches, prefix) in zip(seen, theirs, strict=True):
        torch.testing.assert_close(ours, torch.cat((prefix, patches), dim=1))


def test_random_hybrid_checkpoint_round_trips_strictly(hybrid, tmp_path):
    assert_round_trip(hybrid, tmp_path, (64, 96))


def test_hybrid_runs_at_a_resized_position_grid(hybrid):
    with torch.inference_mode():
        depth = hybrid(torch.randn(2, 3, 64, 96))
    assert depth.shape == (2, 64, 96) and torch.isfinite(depth).all()


@pytest.mark.parametrize(
    ("model_type", "wh", "expected"),
    [
        # minimal, 384 (DPT)
        (HYBRID, (640, 480), (512, 384)),
        (HYBRID, (480, 640), (384, 512)),
        (HYBRID, (1920, 1080), (672, 384)),
        (HYBRID, (1024, 1024), (384, 384)),
        (HYBRID, (200, 100), (384, 192)),
        (HYBRID, (352, 288), (384, 320)),
        (HYBRID, (4032, 3024), (512, 384)),
        (HYBRID, (300, 1000), (384, 1280)),
        # upper_bound, 256 (small); 1920x1080 -> 256x144 rounds half to even: 128
        (SMALL, (640, 480), (256, 192)),
        (SMALL, (480, 640), (192, 256)),
        (SMALL, (1920, 1080), (256, 128)),
        (SMALL, (352, 288), (256, 224)),
        (SMALL, (300, 1000), (64, 256)),
    ],
)
def test_network_size_matches_official_examples(model_type, wh, expected):
    h, w = network_size(wh[1], wh[0], model_type)
    assert (w, h) == expected


@pytest.mark.parametrize(
    ("model_type", "mean", "std"),
    [
        (SMALL, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ("dpt_large_384", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ],
)
def test_preprocess_resizes_and_normalises(model_type, mean, std):
    rgb = np.array([10, 128, 250], np.uint8)
    frames = np.broadcast_to(rgb, (2, 480, 640, 3))
    x = preprocess(frames, model_type)
    h, w = network_size(480, 640, model_type)
    assert x.dtype == torch.float32 and x.shape == (2, 3, h, w)
    expected = (rgb / 255 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(
        x.numpy(), np.broadcast_to(expected.reshape(1, 3, 1, 1), x.shape), atol=1e-5
    )


def test_configured_weight_file(tmp_path):
    with pytest.raises(AsmpError, match="weight file not found") as exc:
        fetch_weights(tmp_path / "nope.pt", SPECS[SMALL].url)
    assert exc.value.path == str(tmp_path / "nope.pt")
    torch.save({"a": torch.ones(2)}, tmp_path / "w.pt")
    wf = fetch_weights(str(tmp_path / "w.pt"), SPECS[SMALL].url)
    assert wf.path == tmp_path / "w.pt" and wf.sha256 == sha256_file(tmp_path / "w.pt")
    assert torch.equal(load_state_dict(wf.path)["a"], torch.ones(2))


def test_official_weights_cached_or_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = SPECS[SMALL].url
    calls = []

    def offline(url: str, dst: str) -> None:
        calls.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    cached = hub_cache_path(url)
    assert cached == tmp_path / "hub" / "checkpoints" / "midas_v21_small_256.pt"
    with pytest.raises(AsmpError, match="downloading .* failed") as exc:
        fetch_weights(None, url)
    assert exc.value.path == str(cached) and calls == [url] and not cached.exists()
    cached.write_bytes(b"weights")
    assert fetch_weights(None, url).sha256 == sha256_file(cached) and calls == [url]
