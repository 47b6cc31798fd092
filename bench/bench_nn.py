"""Training steps of four small models, ember and torch side by side (interleaved, medians).

    python bench/bench_nn.py [--quick] [--threads N] [--only mlp,cnn,lstm,transformer] [--profile NAME]

Each step is forward + loss + backward + optimizer step with identical weights and data in both
frameworks. Budgets (issue 3), ember/torch: MLP <= 1.2x, LSTM <= 1.3x, CNN <= 2.5x, transformer <= 2.5x.
``--threads N`` (default 2, the cores of the reference machine) sets both torch's and NumPy's BLAS thread
count (the latter through OPENBLAS/OMP/MKL_NUM_THREADS, before NumPy is imported). On a machine loaded
by other work, multi-threaded BLAS on tiny matrices can stall for milliseconds in both frameworks;
``--threads 1`` then gives steadier ratios. ``--profile NAME`` runs cProfile over the ember step of one workload and prints the top functions.
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and "--threads" in sys.argv:  # must happen before NumPy loads its BLAS
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = sys.argv[sys.argv.index("--threads") + 1]

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from harness import measure, report, torch_threads  # noqa: E402

BUDGET = {"mlp": 1.2, "cnn": 2.5, "lstm": 1.3, "transformer": 2.5}


def _copy_weights(tmodel, emodel):
    import ember

    sd = {k: ember.tensor(v.detach().numpy()) for k, v in tmodel.state_dict().items()}
    emodel.load_state_dict(sd)


# ---------------------------------------------------------------------------- workloads
# each returns (ember_step, torch_step), zero-argument callables


def mlp(ember, torch, rng):
    import ember.nn as enn
    import ember.nn.functional as EF

    tnn, TF = torch.nn, torch.nn.functional
    tm = tnn.Sequential(tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 256), tnn.ReLU(), tnn.Linear(256, 10))
    em = enn.Sequential(enn.Linear(784, 512), enn.ReLU(), enn.Linear(512, 256), enn.ReLU(), enn.Linear(256, 10))
    _copy_weights(tm, em)
    x = rng.standard_normal((128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    ex, ey, tx, ty = ember.tensor(x), ember.tensor(y), torch.tensor(x), torch.tensor(y)
    eopt = ember.optim.SGD(em.parameters(), lr=0.01, momentum=0.9)
    topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)

    def estep():
        eopt.zero_grad()
        EF.cross_entropy(em(ex), ey).backward()
        eopt.step()

    def tstep():
        topt.zero_grad()
        TF.cross_entropy(tm(tx), ty).backward()
        topt.step()

    return estep, tstep


def _cnn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1024, 10),
    )


def cnn(ember, torch, rng):
    import ember.nn.functional as EF
    from ember.nn import modules as enn_mod

    tm = _cnn(torch.nn)
    em = _cnn(enn_mod)
    _copy_weights(tm, em)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    ex, ey, tx, ty = ember.tensor(x), ember.tensor(y), torch.tensor(x), torch.tensor(y)
    eopt = ember.optim.SGD(em.parameters(), lr=0.01)
    topt = torch.optim.SGD(tm.parameters(), lr=0.01)

    def estep():
        eopt.zero_grad()
        EF.cross_entropy(em(ex), ey).backward()
        eopt.step()

    def tstep():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tm(tx), ty).backward()
        topt.step()

    return estep, tstep


def lstm(ember, torch, rng, vocab=65, hidden=128, steps=32, batch=32):
    """Character model: embedding -> LSTMCell unrolled over 32 steps in a Python loop -> linear -> CE."""
    import ember.nn as enn
    import ember.nn.functional as EF
    from ember.nn import modules as enn_mod

    def build(nn, Cell):
        m = nn.Module()
        m.emb = nn.Embedding(vocab, hidden)
        m.cell = Cell(hidden, hidden)
        m.head = nn.Linear(hidden, vocab)
        return m

    tm = build(torch.nn, torch.nn.LSTMCell)
    em = build(enn, enn_mod.LSTMCell)
    _copy_weights(tm, em)
    seq = rng.integers(0, vocab, (batch, steps + 1))
    inp, tgt = seq[:, :-1], seq[:, 1:]
    e_in, e_tgt = ember.tensor(inp), ember.tensor(np.ascontiguousarray(tgt.T).reshape(-1))
    t_in, t_tgt = torch.tensor(inp), torch.tensor(np.ascontiguousarray(tgt.T).reshape(-1))
    eopt = ember.optim.Adam(em.parameters(), lr=1e-3)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3)

    def run(m, x_ids, y, cat, CE, opt, zeros):
        opt.zero_grad()
        x = m.emb(x_ids)  # (B, T, H)
        h = c = zeros
        outs = []
        for t in range(steps):
            h, c = m.cell(x[:, t], (h, c))
            outs.append(h)
        logits = m.head(cat(outs, 0))
        CE(logits, y).backward()
        opt.step()

    ez = ember.zeros(batch, hidden)
    tz = torch.zeros(batch, hidden)

    def estep():
        run(em, e_in, e_tgt, ember.cat, EF.cross_entropy, eopt, ez)

    def tstep():
        run(tm, t_in, t_tgt, torch.cat, torch.nn.functional.cross_entropy, topt, tz)

    return estep, tstep


def transformer(ember, torch, rng, d=128, heads=4, seq=64, batch=16, vocab=100):
    import ember.nn as enn
    import ember.nn.functional as EF
    from ember.nn import modules as enn_mod

    def build(nn, Layer, Enc):
        m = nn.Module()
        m.emb = nn.Embedding(vocab, d)
        kw = {"dim_feedforward": 4 * d, "batch_first": True, "dropout": 0.0}
        m.enc = Enc(Layer(d, heads, **kw), 2, **({"enable_nested_tensor": False} if Enc is torch.nn.TransformerEncoder else {}))
        m.head = nn.Linear(d, vocab)
        return m

    tm = build(torch.nn, torch.nn.TransformerEncoderLayer, torch.nn.TransformerEncoder)
    em = build(enn, enn_mod.TransformerEncoderLayer, enn_mod.TransformerEncoder)
    _copy_weights(tm, em)
    ids = rng.integers(0, vocab, (batch, seq))
    y = rng.integers(0, vocab, batch * seq)
    e_ids, e_y, t_ids, t_y = ember.tensor(ids), ember.tensor(y), torch.tensor(ids), torch.tensor(y)
    eopt = ember.optim.AdamW(em.parameters(), lr=1e-3)
    topt = torch.optim.AdamW(tm.parameters(), lr=1e-3)

    def estep():
        eopt.zero_grad()
        out = em.head(em.enc(em.emb(e_ids)))
        EF.cross_entropy(out.reshape(-1, vocab), e_y).backward()
        eopt.step()

    def tstep():
        topt.zero_grad()
        out = tm.head(tm.enc(tm.emb(t_ids)))
        torch.nn.functional.cross_entropy(out.reshape(-1, vocab), t_y).backward()
        topt.step()

    return estep, tstep


WORKLOADS = {"mlp": mlp, "cnn": cnn, "lstm": lstm, "transformer": transformer}
TITLES = {
    "mlp": "MLP step 784-512-256-10, b128, SGD mom.",
    "cnn": "CNN step 2x conv5+pool, 64x1x28x28, SGD",
    "lstm": "LSTM char step h128, 32 steps, b32, Adam",
    "transformer": "Transformer 2L d128 h4 seq64 b16, AdamW",
}


def main(argv):
    import ember

    quick = "--quick" in argv
    only = list(WORKLOADS)
    if "--only" in argv:
        only = argv[argv.index("--only") + 1].split(",")
    profile = argv[argv.index("--profile") + 1] if "--profile" in argv else None
    threads = int(argv[argv.index("--threads") + 1]) if "--threads" in argv else None
    torch = torch_threads(threads)
    ratios = {}
    for name in only:
        rng = np.random.default_rng(0)
        ember.manual_seed(0)
        torch.manual_seed(0)
        estep, tstep = WORKLOADS[name](ember, torch, rng)
        if profile == name:
            import cProfile
            import pstats

            estep()
            cProfile.runctx("for _ in range(10): estep()", globals(), {"estep": estep}, "/tmp/bench_nn.prof")
            pstats.Stats("/tmp/bench_nn.prof").sort_stats("tottime").print_stats(20)
        reps = 5 if quick else 20
        med = measure({"ember": estep, "torch": tstep}, repeats=reps, warmup=2)
        ratios[name] = report(TITLES[name], med)
    print()
    for name, r in ratios.items():
        flag = "ok" if r <= BUDGET[name] else "OVER BUDGET"
        print(f"  {name:<12} {r:5.2f}x  (budget {BUDGET[name]}x)  {flag}")
    return ratios


if __name__ == "__main__":
    main(sys.argv[1:])
