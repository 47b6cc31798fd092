"""ember.save of whole modules and arbitrary objects, and ember.load's weights_only policy (torch >= 2.6)."""
from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch

import ember
from ember import nn
from ember.serialization import CheckpointError, UnsafeCheckpointError


class Net(nn.Module):
    """A module subclass defined in this test module, as users define theirs."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)
        self.register_buffer("scale", ember.tensor([2.0]))
        self.note = {"classes": ("a", "b"), "epochs": 3}

    def forward(self, x):
        return self.fc2(ember.relu(self.fc1(x))) * self.scale


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)


def _saved(obj):
    buf = io.BytesIO()
    ember.save(obj, buf)
    return buf.getvalue()


def test_whole_module_round_trip_with_weights_only_false(tmp_path):
    ember.manual_seed(0)
    model = Net()
    x = ember.randn(3, 4)
    path = tmp_path / "model.pt"
    ember.save(model, path)
    back = ember.load(path, weights_only=False)
    assert type(back) is Net and back is not model
    np.testing.assert_array_equal(back(x).detach().numpy(), model(x).detach().numpy())
    assert all(type(p) is nn.Parameter and p.requires_grad for p in back.parameters())
    assert [n for n, _ in back.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert back.note == model.note and back.scale.tolist() == [2.0]
    # the restored module trains
    opt = ember.optim.SGD(back.parameters(), lr=0.1)
    back(x).sum().backward()
    opt.step()
    assert not np.array_equal(back.fc1.weight.detach().numpy(), model.fc1.weight.detach().numpy())
    # map_location is accepted
    assert type(ember.load(path, map_location="cpu", weights_only=False)) is Net


def test_default_load_refuses_pickled_objects_like_torch(tmp_path):
    data = _saved({"epoch": 3, "model": Net()})
    with pytest.raises(UnsafeCheckpointError) as e:
        ember.load(io.BytesIO(data))
    msg = str(e.value)
    assert "Weights only load failed" in msg and "obj['model']" in msg and "test_save_objects.Net" in msg
    assert "arbitrary code" in msg and "weights_only=False" in msg and "trust" in msg
    assert isinstance(e.value, CheckpointError) and isinstance(e.value, pickle.UnpicklingError)
    with pytest.raises(UnsafeCheckpointError):
        ember.load(io.BytesIO(data), weights_only=True)
    # torch behaves the same way with its own module objects
    tpath = tmp_path / "t.pt"
    torch.save(TorchNet(), tpath)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        torch.load(tpath)
    assert type(torch.load(tpath, weights_only=False)) is TorchNet


def test_pickled_sections_are_marked_and_plain_files_stay_pickle_free():
    plain = _saved({"model": Net().state_dict(), "step": 7, "opt": [1.5, None, (2, "x")]})
    assert b"ember.pickle" not in plain and b'"pickle"' not in plain
    back = ember.load(io.BytesIO(plain))  # safe default works
    assert back["step"] == 7 and set(back["model"]) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "scale"}
    marked = _saved({"model": Net()})
    assert b'"ember.pickle":"1"' in marked
    # the module's tensors are stored raw (readable by any safetensors reader), not inside the pickle
    tensors = ember.serialization.load_safetensors(io.BytesIO(marked))
    assert sum(t.numel() for n, t in tensors.items() if not n.endswith("__pickle__")) == 4 * 8 + 8 + 8 * 2 + 2 + 1


def test_shared_tensors_stay_shared_across_json_and_pickle():
    model = Net()
    ckpt = {"model": model, "w": model.fc1.weight, "again": [model]}
    back = ember.load(io.BytesIO(_saved(ckpt)), weights_only=False)
    assert np.shares_memory(back["w"]._data, back["model"].fc1.weight._data)
    assert back["again"][0].fc1.weight is not None


def test_optimizer_object_and_custom_objects():
    model = Net()
    opt = ember.optim.Adam(model.parameters(), lr=0.01)
    model(ember.ones(2, 4)).sum().backward()
    opt.step()
    back = ember.load(io.BytesIO(_saved({"m": model, "o": opt})), weights_only=False)
    assert type(back["o"]) is ember.optim.Adam
    np.testing.assert_array_equal(back["o"].state_dict()["state"][0]["exp_avg"].numpy(),
                                  opt.state_dict()["state"][0]["exp_avg"].numpy())
    assert back["o"].param_groups[0]["lr"] == 0.01
    assert ember.load(io.BytesIO(_saved({1, 2})), weights_only=False) == {1, 2}


def test_unpicklable_objects_and_tampered_files():
    with pytest.raises(TypeError, match=r"cannot store object of type 'function' at obj\['f'\].*pickling it failed"):
        ember.save({"f": lambda: 0}, io.BytesIO())
    data = bytearray(_saved({"m": Net()}))
    data[-3] ^= 0xFF  # inside the pickle bytes: the checksum catches it before anything is unpickled
    with pytest.raises(CheckpointError, match="checksum"):
        ember.load(io.BytesIO(bytes(data)), weights_only=False)
