"""Exact resume: a run resumed from any checkpoint (mid-epoch included, or left by SIGTERM) ends
with weights bit-identical to the uninterrupted run. Shuffling, dropout, Adam, a per-step
scheduler, EarlyStopping and gradient accumulation are all in play."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np

import ember
from ember.train import Trainer
from ember.train.callbacks import EarlyStopping, ModelCheckpoint

MODEL_SRC = '''
import numpy as np
import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.train import TrainModule
from ember.utils.data import DataLoader, TensorDataset


class Net(TrainModule):
    def __init__(self, lr=0.02):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.log("train_loss", loss, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y))

    def configure_optimizers(self):
        opt = ember.optim.Adam(self.parameters(), lr=self.hparams.lr)
        sched = ember.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.9)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def loaders():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((44, 6)).astype(np.float32)
    y = np.sin(x.sum(1, keepdims=True)).astype(np.float32)
    ds = TensorDataset(ember.tensor(x[:36]), ember.tensor(y[:36]))
    vs = TensorDataset(ember.tensor(x[36:]), ember.tensor(y[36:]))
    return DataLoader(ds, batch_size=4, shuffle=True), DataLoader(vs, batch_size=4)


def digest(model):
    h = __import__("hashlib").sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode()); h.update(np.ascontiguousarray(v._data).tobytes())
    return h.hexdigest()
'''

ns: dict = {}
exec(compile(MODEL_SRC, "resume_model", "exec"), ns)
Net, loaders, digest = ns["Net"], ns["loaders"], ns["digest"]

MAX_EPOCHS = 6


def trainer(root, callbacks=(), **kw):
    return Trainer(default_root_dir=root, max_epochs=MAX_EPOCHS, accumulate_grad_batches=2,
                   callbacks=[EarlyStopping(monitor="val_loss", patience=2, min_delta=0.002), *callbacks],
                   enable_progress_bar=False, enable_model_summary=False, logger=False, **kw)


def run(root, ckpt_path=None, callbacks=(), **kw):
    ember.manual_seed(123)
    random.seed(1)
    np.random.seed(1)
    model = Net()
    t = trainer(root, callbacks, **kw)
    t.fit(model, *loaders(), ckpt_path=ckpt_path)
    return digest(model), t


def test_resume_from_every_step_checkpoint_is_bit_identical(tmp_path):
    ref, t = run(tmp_path / "ref", enable_checkpointing=False)
    stopped_at = t.current_epoch
    ck = ModelCheckpoint(dirpath=tmp_path / "ck", every_n_train_steps=1, save_top_k=-1, filename="{step}")
    full, _ = run(tmp_path / "run", callbacks=[ck])
    assert full == ref
    files = sorted(os.listdir(tmp_path / "ck"), key=lambda f: int(f.split("=")[1].split(".")[0]))
    assert len(files) >= 10 and stopped_at < MAX_EPOCHS  # EarlyStopping did stop the run
    # steps of 2 batches (accumulation): mid-epoch ones (9 batches per epoch) and epoch boundaries
    for f in files[:: max(1, len(files) // 10)] + files[-1:]:
        # scramble the global RNGs: resume must restore them
        ember.manual_seed(999)
        got, t2 = run(tmp_path / f"resume_{f}", ckpt_path=tmp_path / "ck" / f, enable_checkpointing=False)
        assert got == ref, f"resumed from {f}"
        assert t2.current_epoch == stopped_at


def test_resume_from_epoch_end_checkpoints(tmp_path):
    ref, _ = run(tmp_path / "ref", enable_checkpointing=False)
    ck = ModelCheckpoint(dirpath=tmp_path / "ck", save_top_k=-1, filename="{epoch}")
    run(tmp_path / "run", callbacks=[ck])
    files = sorted(os.listdir(tmp_path / "ck"))
    assert len(files) >= 3
    for f in files:
        got, _ = run(tmp_path / f"r_{f}", ckpt_path=tmp_path / "ck" / f, enable_checkpointing=False)
        assert got == ref, f


def test_resumed_callback_and_loop_state(tmp_path):
    ck = ModelCheckpoint(dirpath=tmp_path / "ck", every_n_train_steps=3, save_top_k=-1, filename="{step}")
    _, t = run(tmp_path / "run", callbacks=[ck])
    c = ember.load(tmp_path / "ck" / "step=6.ckpt")  # 5 steps per epoch: step 6 = 2 batches into epoch 1
    assert c["global_step"] == 6 and c["epoch"] == 1 and c["loops"]["batches_seen"] == 2
    assert set(c["rng"]) == {"python", "numpy", "ember"}
    assert any(k.startswith("EarlyStopping") for k in c["callbacks"])
    assert c["hyper_parameters"] == {"lr": 0.02} and "ember_version" in c
    assert c["dataloader"]["batches_yielded"] == c["loops"]["batches_seen"]


CHILD = MODEL_SRC + '''
import sys, time
from ember.train import Trainer, Callback
from ember.train.callbacks import EarlyStopping


class Beat(Callback):
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        print("batch", flush=True)
        time.sleep(0.004)


root, mode = sys.argv[1], sys.argv[2]
ember.manual_seed(123)
import random; random.seed(1); np.random.seed(1)
model = Net()
t = Trainer(default_root_dir=root, max_epochs={max_epochs}, accumulate_grad_batches=2,
            callbacks=[EarlyStopping(monitor="val_loss", patience=2, min_delta=0.002), Beat()],
            enable_progress_bar=False, enable_model_summary=False, logger=False)
t.fit(model, *loaders(), ckpt_path="last" if mode == "resume" else None)
print("HASH", digest(model), flush=True)
'''.replace("{max_epochs}", str(MAX_EPOCHS))


def _child(script, root, mode, kill_after=None):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    out, seen = [], 0
    with subprocess.Popen([sys.executable, str(script), str(root), mode], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env) as p:
        watchdog = threading.Timer(300, p.kill)  # a hung child fails the test instead of hanging CI
        watchdog.start()
        try:
            for line in p.stdout:
                out.append(line)
                if line.startswith("batch"):
                    seen += 1
                    if kill_after is not None and seen == kill_after:
                        p.send_signal(signal.SIGTERM)
            err = p.stderr.read()
            rc = p.wait()
        finally:
            watchdog.cancel()
    h = [ln.split()[1] for ln in out if ln.startswith("HASH")]
    return rc, (h[0] if h else None), seen, err


FORKED_CHILD = MODEL_SRC + '''
import os, sys, time
from ember.train import Trainer, Callback
from ember.train.callbacks import EarlyStopping


def main(root, mode, conn):
    """CHILD as a function, run in a process forked from a server that imported ember already."""
    class Beat(Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            conn.send("batch")
            time.sleep(0.004)

    os.makedirs(root, exist_ok=True)
    sys.stderr = open(os.path.join(root, "stderr.txt"), "w", buffering=1)
    ember.manual_seed(123)
    import random; random.seed(1); np.random.seed(1)
    model = Net()
    t = Trainer(default_root_dir=root, max_epochs={max_epochs}, accumulate_grad_batches=2,
                callbacks=[EarlyStopping(monitor="val_loss", patience=2, min_delta=0.002), Beat()],
                enable_progress_bar=False, enable_model_summary=False, logger=False)
    t.fit(model, *loaders(), ckpt_path="last" if mode == "resume" else None)
    conn.send(("HASH", digest(model)))
'''.replace("{max_epochs}", str(MAX_EPOCHS))


def _forked(ctx, main, root, mode, kill_after=None):
    """Like _child, in a real child process that is forked rather than started afresh (saves an
    interpreter start and ember's import per run): SIGTERM after batch ``kill_after``."""
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=main, args=(str(root), mode, w))
    p.start()
    w.close()
    seen, h = 0, None
    while True:
        try:
            msg = r.recv()
        except EOFError:
            break
        if msg == "batch":
            seen += 1
            if seen == kill_after:
                os.kill(p.pid, signal.SIGTERM)
        else:
            h = msg[1]
    p.join()
    with open(os.path.join(root, "stderr.txt")) as f:
        err = f.read()
    return p.exitcode, h, seen, err


def test_sigterm_at_random_steps_then_resume_last(tmp_path, monkeypatch):
    import multiprocessing

    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    rc, ref, total, err = _child(script, tmp_path / "ref", "fresh")  # a fresh interpreter, as in real use
    assert rc == 0 and ref, err
    ref_inproc, _ = run(tmp_path / "inproc", enable_checkpointing=False)
    assert ref == ref_inproc
    # the trials: children forked from a server that has imported ember once
    (tmp_path / "resume_child.py").write_text(textwrap.dedent(FORKED_CHILD))
    monkeypatch.syspath_prepend(str(tmp_path))
    import resume_child

    ctx = multiprocessing.get_context("forkserver")
    # (the server imports these once; not resume_child itself: Python 3.11's server ignores sys.path)
    ctx.set_forkserver_preload(["ember", "ember.nn", "ember.nn.functional", "ember.optim", "ember.utils.data",
                                "ember.train.trainer", "ember.train.module", "ember.train.callbacks"])
    rc, h, _, err = _forked(ctx, resume_child.main, tmp_path / "fref", "fresh")
    assert rc == 0 and h == ref, err
    rng = random.Random(os.getpid())
    trials, killed = 10, 0
    for trial in range(trials):
        root = tmp_path / f"t{trial}"
        k = rng.randint(1, total - 1)
        rc, h, seen, err = _forked(ctx, resume_child.main, root, "fresh", kill_after=k)
        if rc == 0:  # the signal arrived after training ended: nothing to resume
            assert h == ref
            continue
        assert rc == 143, (rc, err)
        killed += 1
        assert "SIGTERM received: saved" in err and h is None
        assert os.path.exists(root / "checkpoints" / "last.ckpt")
        rc, h, _, err = _forked(ctx, resume_child.main, root, "resume")
        assert rc == 0, err
        assert h == ref, f"trial {trial}: killed after batch {k}"
    assert killed >= trials - 2  # the signal lands before the end in (nearly) every trial
