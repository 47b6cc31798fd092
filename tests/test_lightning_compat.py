"""The promise "a LightningModule ports by changing its import and base class", tested.

Each program in ``tests/lightning_compat/`` is written once against a library pair (Lightning 2.x
with torch, or ember.train with ember; see ``_common.py``) using only names both have. It returns
``structure`` (hook sequences recorded by a callback, logged metric keys per CSV row with their
step/epoch, callback_metrics keys, checkpoint file names, returned metric keys, optimizer steps,
schedulers' learning rates, ...) and ``numbers`` (losses and scores: weights and data are the same
in both libraries, so these agree to float32 rounding).

``lightning_compat/expected_lightning.json`` holds what Lightning 2.6.6 (with torch 2.13.0 CPU)
produced for each program. ember's run is compared with it always; when ``lightning`` is
importable, Lightning is run as well and must still produce exactly that, so the recorded values
cannot drift from the oracle. Regenerate after a Lightning upgrade with
``python tests/test_lightning_compat.py --regen`` (and read the diff).
"""
from __future__ import annotations

import copy
import functools
import json
import math
import os
import sys
import tempfile
import warnings

import numpy as np
import pytest

import ember
from lightning_compat._common import ember_lib, lightning_lib
from lightning_compat.classifier import classifier_program
from lightning_compat.datamodule import datamodule_program
from lightning_compat.finetune import finetune_program
from lightning_compat.loop_flags import loop_flags_program
from lightning_compat.manual_gan import manual_gan_program
from lightning_compat.resume import resume_program
from lightning_compat.schedules import schedules_program

PROGRAMS = {
    "classifier": classifier_program,
    "schedules": schedules_program,
    "datamodule": datamodule_program,
    "manual_gan": manual_gan_program,
    "resume": resume_program,
    "loop_flags": loop_flags_program,
    "finetune": finetune_program,
}
EXPECTED_FILE = os.path.join(os.path.dirname(__file__), "lightning_compat", "expected_lightning.json")

try:
    import lightning  # noqa: F401
    HAVE_LIGHTNING = True
except ImportError:  # ember's runs are still checked against the recorded values
    HAVE_LIGHTNING = False


def _plain(x):
    return json.loads(json.dumps(x))


def _run(lib_factory, name):
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if lib_factory is ember_lib:
            ember.manual_seed(0)
        return _plain(PROGRAMS[name](lib_factory(), d))


@functools.lru_cache(maxsize=None)
def _ember(name):
    return _run(ember_lib, name)


@functools.lru_cache(maxsize=None)
def _lightning(name):
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    return _run(lightning_lib, name)


@functools.lru_cache(maxsize=None)
def _expected():
    with open(EXPECTED_FILE) as f:
        return json.load(f)


def _ember_expected(name, structure):
    """Lightning's recorded structure, adjusted where ember differs on purpose (docs/differences.md)."""
    s = copy.deepcopy(structure)
    if name == "resume":
        # resuming from a mid-epoch checkpoint, ember calls on_train_epoch_start for the resumed epoch
        # (Lightning skips it), so per-epoch set-up (GradientAccumulationScheduler, progress bar, a
        # module's curriculum) is redone and the resumed run equals the uninterrupted one
        s["third"]["counters"].insert(0, ["epoch_start", 1, 8])
    return s


def _diff(a, b, path="structure"):
    """The first place where ``a`` (expected) and ``b`` (got) differ, readably."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in b:
                return f"{path}[{k!r}] missing"
            if k not in a:
                return f"{path}[{k!r}] unexpected: {b[k]!r:.200}"
            d = _diff(a[k], b[k], f"{path}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = _diff(x, y, f"{path}[{i}]")
            if d:
                return f"{d}\n  context (expected): {a[max(0, i - 3):i + 4]!r:.600}\n  context (got): {b[max(0, i - 3):i + 4]!r:.600}"
        if len(a) != len(b):
            return f"{path}: {len(a)} items expected, got {len(b)}; extra: {(a[len(b):] or b[len(a):])[:6]!r}"
        return None
    return None if a == b else f"{path}: expected {a!r}, got {b!r}"


def _close(expected, got, rtol, what):
    assert expected.keys() == got.keys(), f"{what}: keys {sorted(expected)} vs {sorted(got)}"
    for k, e in expected.items():
        g = got[k]
        assert math.isclose(e, g, rel_tol=rtol, abs_tol=1e-6), f"{what}[{k!r}]: expected {e!r}, got {g!r}"


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_ember_runs_the_lightning_program_as_lightning_does(name):
    exp, got = _expected()[name], _ember(name)
    d = _diff(_ember_expected(name, exp["structure"]), got["structure"])
    assert d is None, f"{name}: ember differs from Lightning {_expected()['_source']['lightning']}: {d}"
    _close(exp["numbers"], got["numbers"], 1e-4, f"{name} numbers (ember vs Lightning)")


@pytest.mark.skipif(not HAVE_LIGHTNING, reason="lightning not installed: ember is checked against recorded values")
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_recorded_values_are_what_lightning_produces(name):
    import lightning

    exp, ref = _expected()[name], _lightning(name)
    d = _diff(exp["structure"], ref["structure"])
    assert d is None, (f"{name}: Lightning {lightning.__version__} no longer produces the recorded values "
                       f"(recorded with {_expected()['_source']['lightning']}): {d}. If Lightning changed on "
                       "purpose, regenerate: python tests/test_lightning_compat.py --regen")
    _close(exp["numbers"], ref["numbers"], 1e-5, f"{name} numbers (Lightning vs recorded)")


# ----------------------------------------------------------------------------------------------
# the fixes the programs led to, each pinned by a small ember-only test
# ----------------------------------------------------------------------------------------------
def _tiny(**kwargs):
    import ember.nn.functional as F
    from ember.train import TrainModule

    class Tiny(TrainModule):
        def __init__(self):
            super().__init__()
            self.layer = ember.nn.Linear(3, 1)

        def forward(self, x):
            return self.layer(x)

        def training_step(self, batch, batch_idx):
            loss = F.mse_loss(self.layer(batch[0]), batch[1])
            self.log("loss", loss)
            return loss

        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            self.log("val_loss", F.mse_loss(self.layer(batch[0]), batch[1]))

        def configure_optimizers(self):
            return kwargs.get("configure", lambda m: ember.optim.SGD(m.parameters(), lr=0.01))(self)

    return Tiny()


def _data(n=24, bs=4, shuffle=False):
    rng = np.random.default_rng(0)
    ds = ember.utils.data.TensorDataset(ember.tensor(rng.normal(size=(n, 3)).astype(np.float32)),
                                        ember.tensor(rng.normal(size=(n, 1)).astype(np.float32)))
    return ember.utils.data.DataLoader(ds, batch_size=bs, shuffle=shuffle)


def _trainer(tmp_path, **kwargs):
    from ember.train import Trainer

    kwargs.setdefault("logger", False)
    return Trainer(default_root_dir=str(tmp_path), enable_progress_bar=False, enable_model_summary=False,
                   **kwargs)


def test_on_save_checkpoint_fires_once_per_file_written(tmp_path):
    from ember.train.callbacks import ModelCheckpoint

    m = _tiny()
    saves = []
    m.on_save_checkpoint = lambda ck: saves.append(ck["global_step"])
    ckpt = ModelCheckpoint(dirpath=str(tmp_path), save_last=True)
    _trainer(tmp_path, max_epochs=2, callbacks=[ckpt]).fit(m, _data(), _data(8))
    assert saves == [6, 6, 12, 12]  # "epoch=N-step=M.ckpt" and "last.ckpt" at each epoch end
    assert sorted(os.listdir(tmp_path)) == ["epoch=1-step=12.ckpt", "last.ckpt"]


def test_callback_metrics_values_answer_item_and_checkpoints_store_floats(tmp_path):
    from ember.train import Callback

    seen = []

    class Keep(Callback):
        def state_dict(self):
            return {"best": seen[-1] if seen else None}

        def on_validation_end(self, trainer, pl_module):
            seen.append(trainer.callback_metrics["val_loss"])

    keep = Keep()
    t = _trainer(tmp_path, max_epochs=1, callbacks=[keep])
    t.fit(_tiny(), _data(), _data(8))
    v = t.callback_metrics["val_loss"]
    assert isinstance(v, float) and v.item() == float(v) and v.detach() is v and v.cpu().item() == float(v)
    assert v.numpy().shape == () and v.dim() == 0 and v.shape == ()
    assert t.logged_metrics["val_loss"].item() == float(v)
    ck = ember.load(os.path.join(t.log_dir, "checkpoints", os.listdir(os.path.join(t.log_dir, "checkpoints"))[0]))
    assert type(ck["callbacks"][keep.state_key]["best"]) is float and type(ck["metrics"]["callback"]["val_loss"]) is float


def test_logged_metrics_hold_latest_logged_values_without_epoch(tmp_path):
    t = _trainer(tmp_path, max_epochs=1, log_every_n_steps=50, logger=True)
    t.fit(_tiny(), _data(), _data(8))
    assert sorted(t.logged_metrics) == ["loss", "val_loss"]  # "loss" although no row reached the logger


def test_each_run_starts_with_empty_metric_dicts(tmp_path):
    t = _trainer(tmp_path, max_epochs=1)
    m = _tiny()
    t.fit(m, _data(), _data(8))
    assert {"loss", "val_loss"} <= set(t.callback_metrics)
    t.validate(m, _data(8), verbose=False)
    assert sorted(t.callback_metrics) == ["val_loss"]
    t.predict(m, _data(8))
    assert t.callback_metrics == {} and t.logged_metrics == {} and t.progress_bar_metrics == {}


def test_step_metrics_reach_the_logger_only_on_batches_that_step(tmp_path):
    from ember.train.loggers import CSVLogger, read_metrics_csv

    lg = CSVLogger(str(tmp_path))
    t = _trainer(tmp_path, max_epochs=1, accumulate_grad_batches=2, log_every_n_steps=1, logger=lg,
                 limit_val_batches=0)
    t.fit(_tiny(), _data(n=20))  # 5 batches: steps after batches 1, 3 and 4 (the last)
    rows = [r for r in read_metrics_csv(os.path.join(lg.log_dir, "metrics.csv")) if r.get("loss") is not None]
    assert [r["step"] for r in rows] == [0, 1, 2] and t.global_step == 3


def test_step_scheduler_frequency_counts_batches_of_the_epoch(tmp_path):
    def configure(m):
        opt = ember.optim.SGD(m.parameters(), lr=1.0)
        s = ember.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "interval": "step", "frequency": 4}}

    m = _tiny(configure=configure)
    t = _trainer(tmp_path, max_epochs=2, limit_val_batches=0)
    t.fit(m, _data(n=24))  # 6 batches per epoch: stepped after batch 4 of each epoch (Lightning), not at
    assert t.optimizers[0].param_groups[0]["lr"] == 0.25  # global steps 4, 8, 12 (which would give 0.125)


def test_evaluation_with_ckpt_path_restores_callback_state(tmp_path):
    from ember.train import Callback

    loaded = []

    class Counter(Callback):
        def __init__(self):
            self.n = 0

        def on_train_batch_end(self, *args):
            self.n += 1

        def state_dict(self):
            return {"n": self.n}

        def load_state_dict(self, state):
            self.n = state["n"]

        def on_load_checkpoint(self, trainer, pl_module, checkpoint):
            loaded.append(checkpoint["global_step"])

    c = Counter()
    t = _trainer(tmp_path, max_epochs=2, callbacks=[c])
    m = _tiny()
    t.fit(m, _data(), _data(8))
    path = str(tmp_path / "end.ckpt")
    t.save_checkpoint(path)
    c.n = 100
    t.validate(m, _data(8), ckpt_path=path, verbose=False)  # as Lightning: hooks, then load_state_dict
    assert loaded == [12] and c.n == 12


def test_sanity_check_runs_when_resuming_at_an_epoch_end_but_not_mid_epoch(tmp_path):
    from ember.train import Callback
    from ember.train.callbacks import ModelCheckpoint

    sanity = []

    class Probe(Callback):
        def on_sanity_check_start(self, trainer, pl_module):
            sanity.append(trainer.global_step)

    d = str(tmp_path / "c")
    cbs = [Probe(), ModelCheckpoint(dirpath=d, filename="end-{step}"),
           ModelCheckpoint(dirpath=d, every_n_train_steps=3, save_top_k=-1, filename="{step}")]
    _trainer(tmp_path, max_epochs=1, callbacks=cbs).fit(_tiny(), _data(), _data(8))
    assert sanity == [0] and sorted(os.listdir(d)) == ["end-step=6.ckpt", "step=3.ckpt", "step=6.ckpt"]
    for name in ("end-step=6.ckpt", "step=3.ckpt", "step=6.ckpt"):  # only the first was saved at epoch end
        _trainer(tmp_path, max_epochs=2, callbacks=[Probe()], enable_checkpointing=False).fit(
            _tiny(), _data(), _data(8), ckpt_path=os.path.join(d, name))
    assert sanity == [0, 6]


def test_sanity_check_does_not_change_the_training_random_stream(tmp_path):
    from ember.train import Callback

    class Draw(Callback):
        def on_sanity_check_start(self, trainer, pl_module):
            ember.rand(5)  # e.g. random augmentation in validation

    init = {k: v.clone() for k, v in _tiny().state_dict().items()}

    def run(sanity_steps):
        m = _tiny()
        m.load_state_dict(init)
        ember.manual_seed(0)
        _trainer(tmp_path, max_epochs=2, num_sanity_val_steps=sanity_steps, callbacks=[Draw()],
                 enable_checkpointing=False).fit(
            m, _data(shuffle=True), _data(8))
        return m.layer.weight.detach().numpy().copy()

    assert np.array_equal(run(0), run(2))  # the shuffling order is drawn after the sanity check


def test_batch_transfer_hooks_datamodule_wins_and_run_in_every_loop(tmp_path):
    from ember.train import DataModule

    calls = []

    class DM(DataModule):
        def train_dataloader(self):
            return _data()

        def val_dataloader(self):
            return [_data(8), _data(4)]

        def on_before_batch_transfer(self, batch, dataloader_idx):
            calls.append(("dm.before", dataloader_idx))
            return batch

    class Augmented(type(_tiny())):
        def on_before_batch_transfer(self, batch, dataloader_idx):
            calls.append(("m.before", dataloader_idx))  # the datamodule's overrides this one
            return batch

        def on_after_batch_transfer(self, batch, dataloader_idx):
            calls.append(("m.after", dataloader_idx))
            return batch[0] * 0, batch[1] * 0  # the steps see the returned batch

    m = Augmented()
    t = _trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0, enable_checkpointing=False)
    t.fit(m, datamodule=DM())
    assert ("m.before", 0) not in calls
    assert calls[:2] == [("dm.before", 0), ("m.after", 0)] and len(calls) == 2 * (6 + 2 + 1)
    assert calls[-2:] == [("dm.before", 1), ("m.after", 1)]
    bias2 = float(m.layer.bias.detach()[0]) ** 2  # zeroed inputs and targets: the loss is bias^2
    vals = {k: float(v) for k, v in t.callback_metrics.items() if k.startswith("val_loss")}
    assert len(vals) == 2 and all(math.isclose(v, bias2, rel_tol=1e-5) for v in vals.values()), vals


def test_several_eval_loaders_get_suffixed_metrics_unless_add_dataloader_idx_false(tmp_path):
    m = _tiny()
    t = _trainer(tmp_path, max_epochs=1, enable_checkpointing=False)
    res = t.validate(m, [_data(8), _data(12)], verbose=False)
    assert [sorted(d) for d in res] == [["val_loss/dataloader_idx_0"], ["val_loss/dataloader_idx_1"]]
    m.validation_step = lambda batch, batch_idx, dataloader_idx=0: m.log(
        "val_loss", ember.nn.functional.mse_loss(m(batch[0]), batch[1]), add_dataloader_idx=False)
    res = t.validate(m, [_data(8), _data(12)], verbose=False)
    assert [sorted(d) for d in res] == [["val_loss"], ["val_loss"]]  # one metric over both loaders


def test_lightning_module_attributes_users_read(tmp_path):
    m = _tiny()
    assert str(m.device) == "cpu" and m.dtype == ember.float32 and m.global_rank == m.local_rank == 0
    assert m.example_input_array is None
    m.example_input_array = ember.zeros(2, 3)
    assert m.example_input_array.shape == (2, 3)
    m.freeze()
    assert not m.training and not any(p.requires_grad for p in m.parameters())
    m.unfreeze()
    assert m.training and all(p.requires_grad for p in m.parameters())
    x = ember.ones(3)
    assert m.all_gather(x) is x
    t = _trainer(tmp_path)
    assert t.num_devices == 1 and t.precision == "32-true" and not t.evaluating
    with t.init_module():
        pass


def _regen():
    """Record what Lightning produces for each program (run with lightning installed)."""
    import lightning
    import torch

    out = {"_source": {"lightning": lightning.__version__, "torch": torch.__version__,
                       "how": "python tests/test_lightning_compat.py --regen"}}
    for name in PROGRAMS:
        out[name] = _lightning(name)
    with open(EXPECTED_FILE, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {EXPECTED_FILE}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--regen"]:
        sys.path.insert(0, os.path.dirname(__file__))
        _regen()
