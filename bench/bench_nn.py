"""Training steps of small models, ember and torch side by side (blocks of steps, alternating, medians).

    python bench/bench_nn.py [--quick] [--threads 1,2] [--only mlp,cnn,...] [--rounds N] [--profile NAME]
                             [--memory] [--peak NAME FRAMEWORK] [--clock wall|cpu]

Each step is forward + loss + backward + optimizer step with identical weights and data in both
frameworks. The headline is one thread for both (``torch.set_num_threads(1)`` and threadpoolctl's limit on
NumPy's BLAS); ``--threads 1,2`` (the default) adds a two-thread column. ``--memory`` also measures the
peak memory of one training step (after a warm-up step, so optimizer state exists) in a fresh subprocess
per framework: ember with tracemalloc (NumPy reports its buffers to it), torch with torch.profiler's
per-op memory accounting (running sum of every op's net allocation). ``--profile NAME`` runs cProfile over
the ember step of one workload and prints the top functions. ``--clock cpu`` times the blocks by the process's
CPU time instead of wall time (for a loaded shared machine; use it with ``--threads 1``).
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import Threads, environment, fmt_ratio, measure, summary  # noqa: E402

BUDGET = {"mlp": 1.0, "cnn": 1.3, "lstm": 1.0, "nn_lstm": 1.2, "transformer": 1.2, "transformer_gelu": 1.2}
MEM_BUDGET = {"transformer": 1.3, "transformer_gelu": 1.3}


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


def transformer(ember, torch, rng, d=128, heads=4, seq=64, batch=16, vocab=100, act="relu", causal=False,
                norm_first=False):
    import ember.nn as enn
    import ember.nn.functional as EF
    from ember.nn import modules as enn_mod

    def build(nn, Layer, Enc):
        m = nn.Module()
        m.emb = nn.Embedding(vocab, d)
        kw = {"dim_feedforward": 4 * d, "batch_first": True, "dropout": 0.0, "activation": act,
              "norm_first": norm_first}
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
    mask_np = np.triu(np.ones((seq, seq), bool), 1)  # True = may not attend (nn.Transformer's convention)
    e_mask = ember.tensor(mask_np) if causal else None
    t_mask = torch.tensor(mask_np) if causal else None
    ekw = {"mask": e_mask, "is_causal": True} if causal else {}
    tkw = {"mask": t_mask, "is_causal": True} if causal else {}

    def estep():
        eopt.zero_grad()
        out = em.head(em.enc(em.emb(e_ids), **ekw))
        EF.cross_entropy(out.reshape(-1, vocab), e_y).backward()
        eopt.step()

    def tstep():
        topt.zero_grad()
        out = tm.head(tm.enc(tm.emb(t_ids), **tkw))
        torch.nn.functional.cross_entropy(out.reshape(-1, vocab), t_y).backward()
        topt.step()

    return estep, tstep


def transformer_gelu(ember, torch, rng):
    """Pre-norm, GELU, causal mask: the shape of a small GPT block stack."""
    return transformer(ember, torch, rng, act="gelu", causal=True, norm_first=True)


def nn_lstm(ember, torch, rng, vocab=65, hidden=128, steps=32, batch=32, layer="LSTM"):
    """Character model with the nn.LSTM module (the time loop inside the layer); ``layer`` picks nn.GRU/nn.RNN."""
    import ember.nn as enn
    import ember.nn.functional as EF

    def build(nn):
        m = nn.Module()
        m.emb = nn.Embedding(vocab, hidden)
        m.rnn = getattr(nn, layer)(hidden, hidden, batch_first=True)
        m.head = nn.Linear(hidden, vocab)
        return m

    tm, em = build(torch.nn), build(enn)
    _copy_weights(tm, em)
    seq = rng.integers(0, vocab, (batch, steps + 1))
    inp, tgt = seq[:, :-1], seq[:, 1:].reshape(-1)
    e_in, e_tgt, t_in, t_tgt = ember.tensor(inp), ember.tensor(tgt), torch.tensor(inp), torch.tensor(tgt)
    eopt = ember.optim.Adam(em.parameters(), lr=1e-3)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3)

    def estep():
        eopt.zero_grad()
        out, _ = em.rnn(em.emb(e_in))
        EF.cross_entropy(em.head(out).reshape(-1, vocab), e_tgt).backward()
        eopt.step()

    def tstep():
        topt.zero_grad()
        out, _ = tm.rnn(tm.emb(t_in))
        torch.nn.functional.cross_entropy(tm.head(out).reshape(-1, vocab), t_tgt).backward()
        topt.step()

    return estep, tstep


def nn_gru(ember, torch, rng):
    """As ``nn_lstm`` with nn.GRU (reported, no budget)."""
    return nn_lstm(ember, torch, rng, layer="GRU")


def nn_rnn(ember, torch, rng):
    """As ``nn_lstm`` with nn.RNN (tanh; reported, no budget)."""
    return nn_lstm(ember, torch, rng, layer="RNN")


WORKLOADS = {"mlp": mlp, "cnn": cnn, "lstm": lstm, "nn_lstm": nn_lstm, "nn_gru": nn_gru, "nn_rnn": nn_rnn,
             "transformer": transformer, "transformer_gelu": transformer_gelu}
TITLES = {
    "mlp": "MLP 784-512-256-10, b128, SGD mom.",
    "cnn": "CNN 2x conv5+pool, 64x1x28x28, SGD",
    "lstm": "char-LSTM loop of LSTMCell h128 T32 b32",
    "nn_lstm": "nn.LSTM h128 T32 b32, Adam",
    "nn_gru": "nn.GRU h128 T32 b32, Adam",
    "nn_rnn": "nn.RNN (tanh) h128 T32 b32, Adam",
    "transformer": "Transformer 2L d128 h4 s64 b16 (ReLU)",
    "transformer_gelu": "Transformer pre-norm GELU causal",
}


def _setup(name):
    import ember
    import torch

    rng = np.random.default_rng(0)
    ember.manual_seed(0)
    torch.manual_seed(0)
    return WORKLOADS[name](ember, torch, rng)


def peak_child(name, framework):
    """(In a fresh process.) Bytes allocated at the peak of one training step above the state before it."""
    import torch

    torch.set_num_threads(1)
    estep, tstep = _setup(name)
    step = estep if framework == "ember" else tstep
    step()  # warm-up: optimizer state, caches
    if framework == "ember":
        import gc
        import tracemalloc

        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        step()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    cur = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        cur += e.self_cpu_memory_usage
        peak = max(peak, cur)
    return peak


def peak_memory(name):
    res = {}
    for fw in ("ember", "torch"):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--peak", name, fw], capture_output=True,
                             text=True, timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        line = [x for x in out.stdout.splitlines() if x.startswith("PEAK ")]
        if not line:
            raise RuntimeError(f"peak memory child for {name}/{fw} failed:\n{out.stderr[-2000:]}")
        res[fw] = int(line[-1].split()[1])
    return res


def main(argv):
    if "--peak" in argv:
        i = argv.index("--peak")
        print("PEAK", peak_child(argv[i + 1], argv[i + 2]))
        return None
    quick = "--quick" in argv
    only = list(WORKLOADS)
    if "--only" in argv:
        only = argv[argv.index("--only") + 1].split(",")
    profile = argv[argv.index("--profile") + 1] if "--profile" in argv else None
    threads = [int(t) for t in argv[argv.index("--threads") + 1].split(",")] if "--threads" in argv else [1, 2]
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else (3 if quick else 7)
    clock = argv[argv.index("--clock") + 1] if "--clock" in argv else "wall"
    for line in environment():
        print(line)
    print(f"blocks of ~0.25 s of consecutive steps per framework, alternating, {rounds} rounds, {clock} clock; "
          "ratio = median of per-round ember/torch [min-max]")
    results = {}
    for name in only:
        estep, tstep = _setup(name)
        if profile == name:
            import cProfile
            import pstats

            with Threads(1):
                estep()
                cProfile.runctx("for _ in range(10): estep()", globals(), {"estep": estep}, "/tmp/bench_nn.prof")
            pstats.Stats("/tmp/bench_nn.prof").sort_stats("tottime").print_stats(25)
        cols = []
        for n in threads:
            with Threads(n):
                s = summary(measure({"ember": estep, "torch": tstep}, rounds=rounds, target_s=0.15 if quick else 0.3,
                                    clock=clock))
            results[(name, n)] = s
            cols.append(f"{n}T: ember {s['ember'] * 1e3:7.2f} ms torch {s['torch'] * 1e3:7.2f} ms {fmt_ratio(s)}")
        print(f"{TITLES[name]:<42} " + " | ".join(cols), flush=True)
    mem = {}
    if "--memory" in argv:
        for name in only:
            mem[name] = peak_memory(name)
            m = mem[name]
            print(f"peak memory of one step, {name:<17} ember {m['ember'] / 2**20:7.2f} MiB  torch "
                  f"{m['torch'] / 2**20:7.2f} MiB  ratio {m['ember'] / m['torch']:.2f}x")
    print()
    for name in only:
        s = results.get((name, threads[0]))
        if name not in BUDGET:
            print(f"  {name:<17} {threads[0]}T {s['ratio']:5.2f}x  (no budget)")
            continue
        flag = "ok" if s["ratio"] <= BUDGET[name] else "OVER BUDGET"
        print(f"  {name:<17} {threads[0]}T {s['ratio']:5.2f}x  (budget {BUDGET[name]}x)  {flag}")
    for name, m in mem.items():
        if name in MEM_BUDGET:
            r = m["ember"] / m["torch"]
            print(f"  {name:<17} peak memory {r:.2f}x (budget {MEM_BUDGET[name]}x)  "
                  f"{'ok' if r <= MEM_BUDGET[name] else 'OVER BUDGET'}")
    return results, mem


if __name__ == "__main__":
    main(sys.argv[1:])
