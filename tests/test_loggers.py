"""CSVLogger and TensorBoardLogger: directory layout and file contents, read back."""

from __future__ import annotations

import csv
import os
import struct

import numpy as np
import pytest

from ember.train.loggers import CSVLogger, Logger, TensorBoardLogger, read_events, read_metrics_csv
from ember.train.loggers import _tfevents as tfe
from ember.train.loggers.csv_logs import _yaml_dump


def test_csv_logger_layout_and_versions(tmp_path):
    a = CSVLogger(tmp_path, name="exp")
    b = CSVLogger(tmp_path, name="exp")
    assert (a.version, b.version) == (0, 1)
    assert a.log_dir == os.path.join(tmp_path, "exp", "version_0")
    c = CSVLogger(tmp_path, name="exp", version="custom")
    assert c.log_dir == os.path.join(tmp_path, "exp", "custom")
    d = CSVLogger(tmp_path, name="")
    assert d.log_dir == os.path.join(tmp_path, "version_0") and d.root_dir == str(tmp_path)
    assert isinstance(a, Logger) and a.name == "exp" and a.save_dir == str(tmp_path)


def test_csv_logger_metrics_and_hparams(tmp_path):
    lg = CSVLogger(tmp_path, name="exp", flush_logs_every_n_steps=2)
    lg.log_hyperparams({"lr": 0.1, "layers": [32, 16], "name": "adam", "opt": {"beta": 0.9, "nesterov": True},
                        "none": None, "tricky": "a: b"})
    lg.log_metrics({"train_loss": np.float32(0.5)}, step=0)
    assert not os.path.exists(lg.metrics_file_path)
    lg.log_metrics({"train_loss": 0.25, "val_acc": 0.75, "epoch": 0}, step=1)  # (1 + 1) % 2 == 0: flushed
    with open(lg.metrics_file_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["epoch", "step", "train_loss", "val_acc"], ["", "0", "0.5", ""], ["0", "1", "0.25", "0.75"]]
    lg.log_metrics({"new_key": 3}, step=2)
    lg.finalize("success")
    back = read_metrics_csv(lg.metrics_file_path)
    assert back[2] == {"new_key": 3.0, "step": 2} and back[1]["epoch"] == 0
    with open(os.path.join(lg.log_dir, "hparams.yaml")) as f:
        text = f.read()
    assert text == ('lr: 0.1\nlayers:\n  - 32\n  - 16\nname: adam\nopt:\n  beta: 0.9\n  nesterov: true\n'
                    'none: null\ntricky: "a: b"\n')
    with pytest.raises(TypeError, match="must be a number"):
        lg.log_metrics({"bad": "x"}, step=3)


def test_yaml_dump_round_trips_with_a_yaml_parser():
    yaml = pytest.importorskip("yaml")
    data = {"a": 1, "b": [1.5, "x y", True, None], "c": {"d": float("inf"), "e": "yes", "f": []}, "g": "1.5"}
    assert yaml.safe_load(_yaml_dump(data)) == data


def test_crc32c_and_framing():
    assert tfe.crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value
    assert tfe.crc32c(b"") == 0
    rec = tfe.frame_record(b"hello")
    assert struct.unpack("<Q", rec[:8])[0] == 5 and rec[12:17] == b"hello"
    assert tfe.read_records(rec + rec) == [b"hello", b"hello"]
    broken = rec[:13] + b"X" + rec[14:]
    with pytest.raises(ValueError, match="CRC mismatch"):
        tfe.read_records(broken)


def test_tensorboard_logger_writes_scalars_hparams_histograms(tmp_path):
    lg = TensorBoardLogger(tmp_path, name="tb")
    assert lg.log_dir == os.path.join(tmp_path, "tb", "version_0")
    lg.log_hyperparams({"lr": 0.01, "opt": {"name": "adam"}, "flag": False, "obj": object})
    lg.log_metrics({"train_loss": 0.5, "epoch": 0}, step=10)
    lg.log_metrics({"train_loss": np.float64(0.25)}, step=20)
    lg.log_histograms({"w": np.arange(10.0)}, step=20)
    lg.finalize("success")
    files = [f for f in os.listdir(lg.log_dir) if f.startswith("events.out.tfevents.")]
    assert len(files) == 1 and os.path.exists(os.path.join(lg.log_dir, "hparams.yaml"))
    events = read_events(os.path.join(lg.log_dir, files[0]))
    assert events[0]["file_version"] == "brain.Event:2"
    scalars = [(e["step"], v["tag"], v["simple_value"]) for e in events for v in e.get("summary", [])
               if "simple_value" in v]
    assert scalars == [(0, "hp_metric", -1.0), (10, "train_loss", 0.5), (10, "epoch", 0.0), (20, "train_loss", 0.25)]
    hp = {v["tag"]: v["hparams"] for e in events for v in e.get("summary", []) if v.get("plugin_name") == "hparams"}
    assert set(hp) == {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}
    start = hp["_hparams_/session_start_info"]["session_start_info"]["hparams"]
    assert start["lr"] == 0.01 and start["opt/name"] == "adam" and start["flag"] is False
    assert start["obj"] == str(object)
    assert hp["_hparams_/experiment"]["experiment"]["metric_infos"] == ["hp_metric"]
    histo = [v["histo"] for e in events for v in e.get("summary", []) if "histo" in v][0]
    assert histo["num"] == 10 and histo["sum"] == 45 and histo["sum_squares"] == 285
    assert histo["min"] == 0 and histo["max"] == 9 and sum(histo["bucket"]) == 10
    assert histo["bucket_limit"][-1] == 9


def test_tensorboard_log_graph_histograms_each_epoch(tmp_path):
    class FakeModule:
        def named_parameters(self):
            return [("layer.weight", np.ones((2, 2))), ("layer.bias", np.zeros(2))]

    lg = TensorBoardLogger(tmp_path, log_graph=True, default_hp_metric=False)
    with pytest.warns(UserWarning, match="example_input_array"):  # no input: no graph, as Lightning
        lg.log_graph(FakeModule())
    lg.log_metrics({"loss": 1.0, "epoch": 0}, step=5)
    lg.log_metrics({"loss": 0.5, "epoch": 0}, step=6)
    lg.log_metrics({"loss": 0.4, "epoch": 1}, step=9)
    lg.finalize("success")
    events = read_events(lg.event_file)
    hist_steps = [(e["step"], v["tag"]) for e in events for v in e.get("summary", []) if "histo" in v]
    assert hist_steps == [(0, "weights/layer.weight"), (0, "weights/layer.bias"), (5, "weights/layer.weight"),
                          (5, "weights/layer.bias"), (9, "weights/layer.weight"), (9, "weights/layer.bias")]
    with pytest.raises(TypeError, match="unexpected arguments"):
        TensorBoardLogger(tmp_path, flush_secs=3)


def test_tensorboard_reads_our_files(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    lg = TensorBoardLogger(tmp_path)
    lg.log_hyperparams({"lr": 0.1})
    for step in range(3):
        lg.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
    lg.log_histograms({"w": np.linspace(-1, 1, 50)}, step=2)
    lg.finalize("success")
    ea = EventAccumulator(lg.log_dir, size_guidance={"histograms": 0})
    ea.Reload()
    assert [round(s.value, 4) for s in ea.Scalars("loss")] == [1.0, 0.5, 0.3333]
    assert ea.Histograms("weights/w")[0].histogram_value.num == 50
    assert "_hparams_/session_start_info" in ea.PluginTagToContent("hparams")


def test_csv_logger_buffers_appends_and_rewrites_only_for_new_columns(tmp_path):
    lg = CSVLogger(tmp_path, flush_logs_every_n_steps=100)
    for step in range(49, 250, 50):  # Trainer(log_every_n_steps=50) logs at steps 49, 99, 149, ...
        lg.log_metrics({"loss": step / 1000}, step=step)
        if step == 99:  # the first 100 steps are out: written once
            first_inode = os.stat(lg.metrics_file_path).st_ino
            assert [r["step"] for r in read_metrics_csv(lg.metrics_file_path)] == [49, 99]
        if step == 149:  # buffered, not yet written
            assert len(read_metrics_csv(lg.metrics_file_path)) == 2
    assert [r["step"] for r in read_metrics_csv(lg.metrics_file_path)] == [49, 99, 149, 199]
    assert os.stat(lg.metrics_file_path).st_ino == first_inode  # appended, not replaced
    lg.log_metrics({"loss": 0.3, "val_acc": 0.5}, step=260)  # a new column: the file is rewritten
    lg.save()
    assert os.stat(lg.metrics_file_path).st_ino != first_inode
    with open(lg.metrics_file_path) as f:
        lines = f.read().splitlines()
    assert lines[0] == "loss,step,val_acc" and lines[1] == "0.049,49," and len(lines) == 7
    lg.log_metrics({"loss": 0.1}, step=300)
    lg.finalize("success")
    rows = read_metrics_csv(lg.metrics_file_path)
    assert [r["step"] for r in rows] == [49, 99, 149, 199, 249, 260, 300] and rows[5]["val_acc"] == 0.5
    lg.save()  # nothing new: nothing written
    assert len(read_metrics_csv(lg.metrics_file_path)) == 7


def test_read_metrics_csv_skips_a_torn_last_line(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("loss,step\n0.5,0\n0.25,1\n0.1")  # killed in the middle of an append
    assert read_metrics_csv(p) == [{"loss": 0.5, "step": 0}, {"loss": 0.25, "step": 1}]


def test_trainer_metrics_csv_rows_carry_the_epoch(tmp_path):
    import ember
    import ember.nn as nn
    from ember.train import Trainer, TrainModule

    class M(TrainModule):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(ember.ones(1))

        def training_step(self, batch, batch_idx):
            loss = (self.w * batch[0]).sum() ** 2
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", (self.w * batch[0]).sum() ** 2)

        def configure_optimizers(self):
            return ember.optim.SGD(self.parameters(), lr=0.01)

    from ember.utils.data import DataLoader, TensorDataset

    data = DataLoader(TensorDataset(ember.ones(8, 2)), batch_size=2)  # 4 batches
    t = Trainer(max_epochs=3, log_every_n_steps=2, default_root_dir=tmp_path, enable_progress_bar=False,
                enable_model_summary=False, enable_checkpointing=False)
    t.fit(M(), data, data)
    rows = read_metrics_csv(os.path.join(t.log_dir, "metrics.csv"))
    assert all(set(r) - {"epoch", "step"} for r in rows), "a row holding only epoch/step"
    val = [r for r in rows if "val_loss" in r]
    assert [(r["epoch"], r["step"]) for r in val] == [(0, 3), (1, 7), (2, 11)]  # Lightning's steps
    train = [(r["epoch"], r["step"]) for r in rows if "train_loss" in r]
    assert train == [(0, 1), (0, 3), (1, 5), (1, 7), (2, 9), (2, 11)]


def test_log_files_get_ordinary_permissions(tmp_path):
    from ember.train._plots import write_learning_curves

    mask = os.umask(0o022)
    os.umask(mask)
    lg = CSVLogger(tmp_path)
    lg.log_hyperparams({"lr": 0.1})
    lg.log_metrics({"loss": 1.0}, step=0)
    lg.save()
    paths = write_learning_curves(lg.metrics_rows, lg.log_dir)
    files = [lg.metrics_file_path, os.path.join(lg.log_dir, "hparams.yaml")]
    files += [p for p in paths.values() if p]
    for p in files:  # not mkstemp's 0600: readable by whoever may read an ordinary new file
        assert stat_mode(p) == 0o666 & ~mask, p


def stat_mode(path):
    import stat

    return stat.S_IMODE(os.stat(path).st_mode)
