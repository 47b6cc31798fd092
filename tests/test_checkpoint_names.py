"""ModelCheckpoint file names built from metric names stay inside dirpath, and top-k pruning works
on them (a '/' makes a subfolder, as in Lightning; '..' parts are neutralised)."""

import os

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.train import Trainer, TrainModule
from ember.train.callbacks import ModelCheckpoint
from ember.utils.data import DataLoader, TensorDataset


class Reg(TrainModule):
    def __init__(self, key):
        super().__init__()
        self.lin, self.key = nn.Linear(3, 1), key

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.lin(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log(self.key, F.mse_loss(self.lin(x), y))

    def configure_optimizers(self):
        return ember.optim.SGD(self.parameters(), lr=0.05)


def loader():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    return DataLoader(TensorDataset(ember.tensor(x), ember.tensor(x.sum(1, keepdims=True))), batch_size=4)


@pytest.mark.parametrize("key,sub", [("../../x", os.path.join("_", "_")), ("val/loss", "val")])
def test_metric_names_never_leave_dirpath_and_top_k_prunes_them(tmp_path, key, sub):
    ck_dir = tmp_path / "a" / "b" / "ck"
    ck = ModelCheckpoint(dirpath=ck_dir, filename="{" + key + ":.3f}", monitor=key, save_top_k=1)
    Trainer(max_epochs=4, callbacks=[ck], logger=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0).fit(Reg(key), loader(), loader())
    files = [os.path.relpath(os.path.join(d, f), ck_dir) for d, _, fs in os.walk(tmp_path) for f in fs]
    assert all(not f.startswith("..") for f in files), files          # nothing outside dirpath
    assert len(files) == 1 and files[0].startswith(sub + os.sep), files  # top-k pruned the older ones
    assert os.path.realpath(ck.best_model_path).startswith(os.path.realpath(ck_dir))


def test_a_template_leaving_dirpath_is_refused(tmp_path):
    ck = ModelCheckpoint(dirpath=tmp_path, filename="../{epoch}")
    with pytest.raises(ValueError, match="outside dirpath"):
        ck.format_checkpoint_name({"epoch": 1})
