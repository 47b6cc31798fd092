"""fast_dev_run mutes the loggers as Lightning's DummyLogger does: LearningRateMonitor is accepted (it was refused
with "no logger"), unless logger=False was asked for, where both refuse. Checked against Lightning when installed."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
import ember.train as ET


def _fit(lib, torch, logger, tmp_path):
    Base = getattr(lib, "LightningModule", None) or lib.TrainModule
    cbs = lib.pytorch.callbacks if hasattr(lib, "pytorch") else lib.callbacks

    class M(Base):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 1)

        def training_step(self, batch, i):
            x, y = batch
            return ((self.lin(x) - y) ** 2).mean()

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 1)}

    data = np.arange(24, dtype=np.float32).reshape(8, 3) / 24
    ds = torch.utils.data.TensorDataset(torch.tensor(data), torch.tensor(data[:, :1]))
    kw = {} if logger else {"logger": False}
    t = lib.Trainer(fast_dev_run=True, callbacks=[cbs.LearningRateMonitor()], enable_progress_bar=False,
                    default_root_dir=str(tmp_path), **kw)
    t.fit(M(), torch.utils.data.DataLoader(ds, batch_size=4))
    return t.global_step


@pytest.mark.parametrize("logger", [True, False])
def test_lr_monitor_under_fast_dev_run_as_lightning(logger, tmp_path):
    outcomes = {}
    libs = [("ember", ET, ember)]
    try:
        import lightning
        import torch
        libs.append(("lightning", lightning, torch))
    except ImportError:
        pass
    for name, lib, torch in libs:
        try:
            with warnings.catch_warnings():
                if name == "lightning":  # its own deprecation warnings, turned into errors by the suite's filter
                    warnings.simplefilter("ignore")
                outcomes[name] = ("ok", _fit(lib, torch, logger, tmp_path / name))
        except Exception as e:  # noqa: BLE001 - the outcome is compared
            outcomes[name] = ("raised", "logger" in str(e).lower())
    assert outcomes["ember"] == (("ok", 1) if logger else ("raised", True))
    if "lightning" in outcomes:
        assert outcomes["ember"] == outcomes["lightning"]
