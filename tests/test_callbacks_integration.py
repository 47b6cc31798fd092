"""Callbacks, loggers and learning curves with the real Trainer on a tiny regression model."""

from __future__ import annotations

import io
import json
import math
import os
import re

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.optim as optim
from ember.train import Trainer, TrainModule
from ember.train._plots import group_metrics, write_learning_curves
from ember.train.callbacks.early_stopping import EarlyStopping
from ember.train.callbacks.lr_finder import LearningRateFinder, lr_find
from ember.train.callbacks.lr_monitor import LearningRateMonitor
from ember.train.callbacks.model_checkpoint import ModelCheckpoint
from ember.train.callbacks.model_summary import ModelSummary, get_human_readable_count, summarize
from ember.train.callbacks.progress import TQDMProgressBar
from ember.train.callbacks.swa import StochasticWeightAveraging, _SWALR
from ember.train.loggers import CSVLogger, TensorBoardLogger, read_events, read_metrics_csv
from ember.utils.data import DataLoader, TensorDataset


class Lin(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.weight = nn.Parameter(ember.randn(o, i) * 0.3)
        self.bias = nn.Parameter(ember.zeros(o))

    def forward(self, x):
        return x @ self.weight.T + self.bias


class Reg(TrainModule):
    def __init__(self, lr=0.05, scheduler=True):
        super().__init__()
        self.lr = lr
        self.scheduler = scheduler
        self.hidden = Lin(4, 8)
        self.out = Lin(8, 1)
        self.example_input_array = ember.randn(2, 4)

    def forward(self, x):
        return self.out(self.hidden(x).relu())

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = ((self(x) - y) ** 2).mean()
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", ((self(x) - y) ** 2).mean(), prog_bar=True)

    def configure_optimizers(self):
        opt = optim.Adam(self.parameters(), lr=self.lr)
        if not self.scheduler:
            return opt
        return {"optimizer": opt, "lr_scheduler": optim.lr_scheduler.StepLR(opt, 2, gamma=0.5)}


def _data(n=64, seed=0):
    ember.manual_seed(seed)
    x = ember.randn(n, 4)
    y = x @ ember.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    return DataLoader(TensorDataset(x, y), batch_size=16)


def _quiet(tmp_path, **kw):
    base = dict(default_root_dir=tmp_path, enable_progress_bar=False, enable_model_summary=False,
                num_sanity_val_steps=0)
    base.update(kw)
    return base


def test_fit_with_early_stopping_checkpoint_lr_monitor_and_curves(tmp_path):
    dl = _data()
    ck = ModelCheckpoint(monitor="val_loss", save_top_k=2, save_last=True, filename="{epoch}-{val_loss:.3f}")
    es = EarlyStopping(monitor="val_loss", patience=1, min_delta=0.5)
    trainer = Trainer(max_epochs=30, log_every_n_steps=1, callbacks=[es, ck, LearningRateMonitor()],
                      **_quiet(tmp_path))
    trainer.fit(Reg(), dl, dl)
    assert trainer.should_stop and es.stopped_epoch == trainer.current_epoch - 1 < 29
    assert es.stopping_reason.name == "PATIENCE_EXHAUSTED"
    files = sorted(os.listdir(ck.dirpath))
    assert len(files) == 3 and "last.ckpt" in files
    assert ck.dirpath == os.path.realpath(os.path.join(trainer.log_dir, "checkpoints"))
    vals = [float(f.split("val_loss=")[1][:-5]) for f in files if "val_loss" in f]
    assert float(ck.best_model_score) == pytest.approx(min(vals), abs=1e-3)
    rows = read_metrics_csv(os.path.join(trainer.log_dir, "metrics.csv"))
    lrs = [r["lr-Adam"] for r in rows if "lr-Adam" in r]
    assert lrs[0] == 0.05 and 0.025 in lrs  # StepLR(step_size=2, gamma=0.5) after two epochs
    assert os.path.exists(os.path.join(trainer.log_dir, "learning_curves.html"))
    assert os.path.exists(os.path.join(trainer.log_dir, "hparams.yaml"))


def test_progress_bar_and_model_summary_in_a_fit(tmp_path, caplog):
    out = io.StringIO()
    trainer = Trainer(max_epochs=2, callbacks=[TQDMProgressBar(file=out), ModelSummary(max_depth=1)],
                      default_root_dir=tmp_path, num_sanity_val_steps=0)
    with caplog.at_level("INFO", logger="ember.train"):
        trainer.fit(Reg(), _data(), _data())
    lines = out.getvalue().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["Epoch 0", "Epoch 1"]
    assert "4/4" in lines[0] and "val_loss=" in lines[1] and "train_loss=" in lines[1]
    assert "Total params" in caplog.text and "| hidden | Lin" in caplog.text
    assert "[2, 4]" in caplog.text and "[2, 8]" in caplog.text and "[2, 1]" in caplog.text
    trainer.validate(Reg(), DataLoader(TensorDataset(ember.randn(40, 4), ember.randn(40, 1)), batch_size=16),
                     verbose=False)
    last = out.getvalue().splitlines()[-1]  # a count of the batches, and no training metrics
    assert last.startswith("Validation: 3/3 [") and "train_loss" not in last and "=" not in last, last


def test_model_summary_table():
    m = Reg()
    s = summarize(m, max_depth=1)
    assert s.layer_names == ["hidden", "out"] and s.param_nums == [40, 9]
    assert s.total_parameters == 49 == s.trainable_parameters
    assert s.in_sizes == [[2, 4], [2, 8]] and s.out_sizes == [[2, 8], [2, 1]]
    assert s.model_size == pytest.approx(49 * 4 / 1e6)
    m.out.bias.requires_grad = False
    assert summarize(m).trainable_parameters == 48
    assert summarize(m, max_depth=-1).layer_names == ["hidden", "out"]
    assert summarize(m, max_depth=0).layers == []
    assert [get_human_readable_count(n) for n in (66, 1234, 2_500_000)] == ["66", "1.2 K", "2.5 M"]
    assert m.training  # the sample forward restored the mode


def _weights(m):
    return {k: np.array(v._data, copy=True) for k, v in m.state_dict().items()}


def _opt_arrays(opt):
    out = []
    for st in opt.state_dict()["state"].values():
        for k, v in sorted(st.items()):
            out.append((k, np.array(getattr(v, "_data", v), copy=True)))
    return out


def test_lr_find_restores_everything_exactly(tmp_path):
    dl = _data(n=256)
    model = Reg(lr=0.01, scheduler=False)
    trainer = Trainer(max_epochs=1, **_quiet(tmp_path, logger=False, enable_checkpointing=False))
    trainer.fit(model, dl)  # the optimizer now has Adam state
    w0, o0 = _weights(model), _opt_arrays(trainer.optimizers[0])
    rng0 = ember.get_rng_state()
    np_state0 = np.random.get_state()[1].copy()
    res = lr_find(trainer, model, train_dataloaders=dl, min_lr=1e-5, max_lr=1.0, num_training=30)
    w1, o1 = _weights(model), _opt_arrays(trainer.optimizers[0])
    assert w0.keys() == w1.keys() and all(np.array_equal(w0[k], w1[k]) and w0[k].dtype == w1[k].dtype for k in w0)
    assert len(o0) == len(o1) > 0 and all(a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(o0, o1))
    assert np.array_equal(ember.get_rng_state()._data, rng0._data)
    assert np.array_equal(np.random.get_state()[1], np_state0)
    assert model.trainer is trainer and model.training
    lrs = res.results["lr"]
    assert 10 <= len(lrs) <= 30 and lrs[0] == pytest.approx(1e-5)
    assert all(b > a for a, b in zip(lrs, lrs[1:]))
    assert lrs[1] / lrs[0] == pytest.approx((1.0 / 1e-5) ** (1 / 30))
    sug = res.suggestion()
    assert sug is not None and 1e-5 <= sug <= 1.0 and model.lr == sug
    fig = res.plot(suggest=True, path=str(tmp_path / "lr.png"))
    assert fig is not None and os.path.getsize(tmp_path / "lr.png") > 1000


def test_lr_find_linear_mode_errors_and_missing_attr(tmp_path):
    class NoLr(Reg):
        def __init__(self):
            super().__init__()
            del self.lr
            self.rate = 0.01

        def configure_optimizers(self):
            return optim.SGD(self.parameters(), lr=self.rate)

    trainer = Trainer(max_epochs=1, **_quiet(tmp_path, logger=False, enable_checkpointing=False))
    with pytest.raises(AttributeError, match="`lr` or `learning_rate`"):
        lr_find(trainer, NoLr(), train_dataloaders=_data())
    with pytest.raises(ValueError, match="mode"):
        lr_find(trainer, Reg(), train_dataloaders=_data(), mode="cosine")
    m = NoLr()
    res = lr_find(trainer, m, train_dataloaders=_data(n=320), mode="linear", min_lr=0.001, max_lr=0.1,
                  num_training=20, attr_name="rate", early_stop_threshold=None)
    lrs = res.results["lr"]
    assert len(lrs) == 20 and np.allclose(np.diff(lrs), (0.1 - 0.001) / 20)
    assert m.rate == res.suggestion() is not None
    assert res.suggestion(skip_begin=19) is None  # too few points: no suggestion


def test_learning_rate_finder_callback_sets_the_fit_rate(tmp_path):
    model = Reg(lr=123.0, scheduler=False)
    cb = LearningRateFinder(min_lr=1e-4, max_lr=0.5, num_training_steps=20)
    trainer = Trainer(max_epochs=1, callbacks=[cb], **_quiet(tmp_path, logger=False, enable_checkpointing=False))
    trainer.fit(model, _data(n=256))
    sug = cb.optimal_lr.suggestion()
    assert model.lr == sug != 123.0
    assert trainer.optimizers[0].param_groups[0]["lr"] == sug


def test_swalr_matches_torch():
    torch = pytest.importorskip("torch")
    from torch.optim.swa_utils import SWALR

    for strategy in ("cos", "linear"):
        p = torch.nn.Parameter(torch.zeros(1))
        topt = torch.optim.SGD([p], lr=0.5)
        tsch = SWALR(topt, swa_lr=0.05, anneal_epochs=3, anneal_strategy=strategy)

        class FakeOpt:
            param_groups = [{"lr": 0.5}]

        ours = _SWALR(FakeOpt, [0.05], 3, strategy)
        got, want = [FakeOpt.param_groups[0]["lr"]], [topt.param_groups[0]["lr"]]
        for _ in range(5):
            topt.step()
            tsch.step()
            ours.step()
            got.append(FakeOpt.param_groups[0]["lr"])
            want.append(topt.param_groups[0]["lr"])
        assert np.allclose(got, want, rtol=1e-12), (strategy, got, want)


def test_swa_averages_last_epochs(tmp_path):
    class Rec(Reg):
        def on_train_epoch_end(self):
            self.snaps.append({k: np.array(v._data, copy=True) for k, v in self.named_parameters()})

    model = Rec(lr=0.05)
    model.snaps = []
    swa = StochasticWeightAveraging(swa_lrs=0.01, swa_epoch_start=3, annealing_epochs=1)
    trainer = Trainer(max_epochs=5, callbacks=[swa], **_quiet(tmp_path, logger=False, enable_checkpointing=False))
    trainer.fit(model, _data())
    assert swa.n_averaged == 3  # epochs 2, 3, 4 (swa_epoch_start is 1-based)
    for name, p in model.named_parameters():
        want = np.mean([s[name] for s in model.snaps[2:]], axis=0)
        np.testing.assert_allclose(p._data, want, rtol=1e-5, atol=1e-6)
    sched = trainer.lr_scheduler_configs[0].scheduler
    assert isinstance(sched, _SWALR) and trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01)
    sd = swa.state_dict()
    swa2 = StochasticWeightAveraging(swa_lrs=0.01)
    swa2.load_state_dict(sd)
    assert swa2.n_averaged == 3 and all(np.array_equal(swa2.average_model_state[k], v)
                                        for k, v in swa.average_model_state.items())
    with pytest.raises(ValueError, match="swa_epoch_start"):
        StochasticWeightAveraging(swa_lrs=0.1, swa_epoch_start=0)
    with pytest.raises(ValueError, match="swa_lrs"):
        StochasticWeightAveraging(swa_lrs=-1.0)


def test_tensorboard_logger_in_a_fit(tmp_path):
    lg = TensorBoardLogger(tmp_path, name="tb", log_graph=True)
    trainer = Trainer(max_epochs=2, logger=lg, log_every_n_steps=1, **_quiet(tmp_path, enable_checkpointing=False))
    trainer.fit(Reg(), _data(), _data())
    events = read_events(lg.event_file)
    tags = {v["tag"] for e in events for v in e.get("summary", [])}
    assert {"train_loss", "val_loss", "epoch", "hp_metric", "_hparams_/experiment"} <= tags
    assert trainer.log_dir == os.path.join(tmp_path, "tb", "version_0")
    # log_graph=True: the Trainer logged the graph at fit start, and weight histograms at 0 and each epoch
    hist = [(e["step"], v["tag"]) for e in events for v in e.get("summary", []) if "histo" in v]
    assert sorted({t for _, t in hist}) == ["weights/hidden.bias", "weights/hidden.weight", "weights/out.bias",
                                            "weights/out.weight"]
    assert len(hist) == 3 * 4  # at the graph call, then at epochs 0 and 1
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    ea = ea_mod.EventAccumulator(os.path.dirname(lg.event_file))
    ea.Reload()
    graph = ea.Graph()  # TensorBoard's own reader parses the GraphDef
    nodes = {n.name: n for n in graph.node}
    assert {"Reg/hidden.weight", "Reg/hidden.bias", "Reg/out.weight", "Reg/out.bias", "input/input.0",
            "output/output.0"} <= set(nodes)
    assert nodes["input/input.0"].op == "IO Node" and nodes["Reg/out.weight"].op == "Parameter"
    ops = [n for n in graph.node if n.op not in ("IO Node", "Parameter")]
    assert any(n.name.startswith("Reg/Lin[hidden]/") for n in ops) and any(n.name.startswith("Reg/Lin[out]/") for n in ops)
    for n in graph.node:
        assert all(i in nodes for i in n.input), (n.name, list(n.input))
    assert [d.size for d in nodes["output/output.0"].attr["_output_shapes"].list.shape[0].dim] == [2, 1]


def test_tensorboard_only_report_and_test_metrics(tmp_path):
    lg = TensorBoardLogger(tmp_path, name="tb")  # the only logger: the report is built from its event file
    trainer = Trainer(max_epochs=3, logger=lg, log_every_n_steps=1, **_quiet(tmp_path, enable_checkpointing=False))

    class Tested(Reg):
        def test_step(self, batch, batch_idx):
            x, y = batch
            self.log("test_loss", ((self(x) - y) ** 2).mean())

    model = Tested()
    trainer.fit(model, _data(), _data())
    trainer.test(model, _data())
    lg.finalize("success")  # ember's test() leaves the event file it opened for the test metrics open
    with open(os.path.join(trainer.log_dir, "learning_curves.html"), encoding="utf-8") as f:
        text = f.read()
    charts = json.loads(re.search(r"renderCharts\(document.getElementById\('charts'\), (.*)\);", text).group(1))
    names = {s["name"]: (c["xlabel"], s["kind"]) for c in charts for s in c["series"]}
    assert "hp_metric" not in names  # the HPARAMS placeholder is not a curve
    assert names["val_loss"][1] == "epoch" and names["train_loss"][1] == "step"
    assert "test_loss" in names and names["test_loss"][1] == "test"  # added by trainer.test()
    val = [s for c in charts for s in c["series"] if s["name"] == "val_loss"][0]
    assert val["epoch"] == [0, 1, 2]  # epoch metrics carry their epoch, not a step-indexed guess


def test_write_learning_curves_from_rows(tmp_path):
    rows = [{"train_loss": 1.0 / (s + 1), "epoch": s // 5, "step": s} for s in range(10)]
    rows += [{"val_loss": 0.5, "epoch": 0, "step": 4}, {"val_acc": 0.9, "val_loss": 0.4, "epoch": 1, "step": 9}]
    panels = group_metrics(rows)
    assert set(panels) == {"loss", "acc"}
    assert panels["acc"]["val_acc"]["axis"] == "epoch" and panels["loss"]["val_loss"]["axis"] == "step"
    paths = write_learning_curves(rows, tmp_path)
    with open(paths["html"], encoding="utf-8") as f:
        text = f.read()
    charts = json.loads(re.search(r"renderCharts\(document.getElementById\('charts'\), (.*)\);", text).group(1))
    assert [c["title"] for c in charts] == ["acc", "loss"]
    loss = {s["name"]: s for s in charts[1]["series"]}
    assert loss["train_loss"]["kind"] == "step" and loss["val_loss"]["kind"] == "epoch"
    assert loss["train_loss"]["step"][:3] == [0, 1, 2] and loss["train_loss"]["epoch"][:6] == [0, 0, 0, 0, 0, 1]
    assert charts[0]["xlabel"] == "epoch" and charts[1]["ylabel"] == "loss"
    assert "<script src" not in text and "EmberView" in text
    pytest.importorskip("matplotlib")
    assert paths["png"] and os.path.getsize(paths["png"]) > 1000 and "data:image/png;base64," in text
    empty = write_learning_curves([], tmp_path / "empty")
    assert empty["png"] is None and os.path.exists(empty["html"])
    with pytest.raises(TypeError, match="out_dir"):
        write_learning_curves(rows)


def test_csv_logger_is_the_default_and_resume_keeps_checkpoint_state(tmp_path):
    dl = _data()
    ck = ModelCheckpoint(monitor="val_loss", save_top_k=2)
    es = EarlyStopping(monitor="val_loss", patience=50)
    t1 = Trainer(max_epochs=2, callbacks=[ck, es], **_quiet(tmp_path))
    t1.fit(Reg(), dl, dl)
    assert isinstance(t1.logger, CSVLogger)
    best = ck.best_model_path
    ck2 = ModelCheckpoint(dirpath=ck.dirpath, monitor="val_loss", save_top_k=2)
    es2 = EarlyStopping(monitor="val_loss", patience=50)
    t2 = Trainer(max_epochs=3, callbacks=[ck2, es2], **_quiet(tmp_path))
    with pytest.warns(UserWarning, match="exists and is not empty"):
        t2.fit(Reg(), dl, dl, ckpt_path=best)
    assert es2.best_score <= es.best_score and math.isfinite(es2.best_score)
    assert len(ck2.best_k_models) == 2


def test_learning_curves_refresh_at_epoch_end_throttled(tmp_path):
    from ember.train import Callback

    seen = []

    class Look(Callback):
        def on_train_epoch_start(self, trainer, module):
            html = os.path.join(trainer.log_dir, "learning_curves.html")
            if not os.path.exists(html):
                seen.append(None)
                return
            with open(html, encoding="utf-8") as f:
                text = f.read()
            seen.append(sorted(k for k in ("train_loss", "val_loss") if f"<th>{k}</th>" in text))

    trainer = Trainer(max_epochs=3, log_every_n_steps=1, callbacks=[Look()], **_quiet(tmp_path))
    trainer.fit(Reg(), _data(), _data())
    # nothing before epoch 0; written after epoch 0 (the first refresh is never throttled)
    assert seen[:2] == [None, ["train_loss", "val_loss"]], seen
    assert os.path.exists(os.path.join(trainer.log_dir, "learning_curves.html"))


def test_learning_curves_writer_throttles_and_reuses_its_figure(tmp_path):
    from ember.train._plots import LearningCurves

    rows = [{"train_loss": 1.0 / (s + 1), "epoch": s // 5, "step": s} for s in range(10)]
    lc = LearningCurves(budget=1e6)  # a refresh may take a millionth of the training time
    assert lc.write(rows, tmp_path, throttle=True)["html"]  # the first one always happens
    rows.append({"val_loss": 0.5, "val_acc": 0.7, "epoch": 1, "step": 9})
    assert lc.write(rows, tmp_path, throttle=True) is None  # too soon
    assert lc.write(rows, tmp_path)["html"]  # not throttled (fit end)
    assert lc.write(rows, tmp_path) is None  # nothing new
    pytest.importorskip("matplotlib")
    rows.append({"train_loss": 0.05, "epoch": 2, "step": 12})
    reused = lc.write(rows, tmp_path / "a")["png"]
    fresh = write_learning_curves(rows, tmp_path / "b")["png"]
    with open(reused, "rb") as f, open(fresh, "rb") as g:
        assert f.read() == g.read()  # updating the kept figure draws exactly what a new one would
