"""Distributed data parallel: all-reduce bandwidth and weak scaling, ember (MPI) next to torch (gloo).

    python bench/bench_distributed.py [--quick] [--rounds K] [--scaling-only] [--models mlp,cnn] [--json OUT.json]
    python bench/bench_distributed.py --project OUT.json     # the cost model again from saved numbers

It starts the MPI jobs itself (``mpiexec`` of this environment, every rank at 1 BLAS thread):

1. ``all_reduce`` of float32 buffers from 1 KB to 64 MB on 2 ranks: median time, algorithm bandwidth
   (bytes / time) and bus bandwidth (x 2(p-1)/p, what a ring moves per rank), next to a plain NumPy copy
   of the same buffer and torch.distributed's gloo all_reduce on the same two processes.
2. Weak scaling, 2 ranks x 1 thread vs 1 process x 1 thread at the same per-rank batch, for the MLP (W2)
   and CNN (W3) of bench_nn.py: step time, efficiency t1/t2, and how much of the all-reduce time backward
   hides: overlap = 1 - (DDP step - the same step without all-reduce) / the buckets' all-reduces alone,
   all three measured interleaved on the same 2 ranks; with one bucket ("off") and with small buckets
   ("on"); torch DDP (gloo) beside it. Every rank also reports CPU times (its own thread's): the step's,
   the communication work's (DDP's counters: copy into the buckets, sum of its slice, write-back) and
   the waiting's, so that a cost efficiency t1 CPU / (compute + communication work) can be computed
   that does not depend on the other jobs sharing the cores; ``--rounds K`` repeats the 1-process and
   2-rank launches K times and prints median [min-max] over the rounds, with the load average.
   ``EMBER_BENCH_SRC=DIR`` runs the workers on another ember source tree (before/after comparisons).

The numbers feed the cost model in docs/distributed.md. The reference machine has 2 cores shared with
other jobs: 2 ranks compete with whatever else runs, so expect noise.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

if "--worker" in sys.argv:
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [2**k for k in range(10, 27, 2)]  # 1 KB ... 64 MB


def _median_time(fn, reps, warmup=2, comm=None, out_min=None):
    """Median seconds per call (the slowest rank's when ``comm``); the fastest call goes to out_min[0]."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        if comm is not None:
            comm.Barrier()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    if comm is not None:  # the slowest rank's median is what a collective costs
        from mpi4py import MPI

        if out_min is not None:
            out_min.append(comm.allreduce(min(ts), op=MPI.MAX))
        return comm.allreduce(statistics.median(ts), op=MPI.MAX)
    if out_min is not None:
        out_min.append(min(ts))
    return statistics.median(ts)


def _torch_init(rank, world):
    import torch
    import torch.distributed as tdist

    torch.set_num_threads(1)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    tdist.init_process_group("gloo", rank=rank, world_size=world)
    return torch, tdist


# ----------------------------------------------------------------------------- workers (under mpiexec)
def worker_allreduce(quick):
    import ember
    import ember.distributed as dist

    dist.init_process_group("mpi")
    comm = dist.GroupMember.WORLD.comm
    r, n = dist.get_rank(), dist.get_world_size()
    torch, tdist = _torch_init(r, n)
    rows = []
    for size in SIZES:
        count = size // 4
        reps = max(3, min(200, int(2e7 // size))) // (4 if quick else 1) + 1
        t = ember.ones(count)
        tt = torch.ones(count)
        src, dst = np.ones(count, np.float32), np.empty(count, np.float32)
        best = []
        ours = _median_time(lambda t=t: dist.all_reduce(t), reps, comm=comm, out_min=best)
        gloo = _median_time(lambda tt=tt: tdist.all_reduce(tt), reps, comm=comm)
        copy = _median_time(lambda d=dst, s=src: np.copyto(d, s), reps)
        rows.append({"bytes": size, "ember_s": ours, "ember_min_s": best[0], "torch_gloo_s": gloo, "numpy_copy_s": copy})
    tdist.destroy_process_group()
    if r == 0:
        print("RESULT " + json.dumps({"world": n, "rows": rows}), flush=True)


def _models(name):
    sys.path.insert(0, HERE)
    import bench_nn

    if name == "mlp":
        def make(nn):
            return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
        return make, (128, 784)
    return bench_nn._cnn, (64, 1, 28, 28)


def _cpu():
    return time.thread_time()


def worker_step(model, quick, buckets_mb):
    """Per-rank step costs of ember (plain when 1 rank, DDP with each bucket size otherwise) and torch.

    Every rank reports its own medians over the steps: wall time and CPU time (this thread's) of the
    DDP step, of the same step without any all-reduce (``no_sync``) and of the buckets' all-reduces alone,
    and, from DDP's counters, the CPU seconds of the communication work (copying gradients into the
    buckets, summing this rank's slice, writing the averages into ``.grad``) and the wall/CPU seconds spent
    waiting for the other rank. compute = step CPU - communication work CPU - waiting CPU."""
    import ember
    import ember.distributed as dist
    import ember.nn as enn
    from ember.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("mpi")
    comm = dist.GroupMember.WORLD.comm
    r, n = dist.get_rank(), dist.get_world_size()
    make, shape = _models(model)
    rng = np.random.default_rng(r)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, 10, shape[0])
    reps = 10 if quick else 25
    out = {"model": model, "world": n, "ember": {}, "torch": {}, "loadavg_start": os.getloadavg()[0]}

    ember.manual_seed(0)
    em = make(enn)
    ex, ey = ember.tensor(x), ember.tensor(y)
    nparams = sum(p.numel() for p in em.parameters())
    out["grad_bytes"] = 4 * nparams
    # one bucket ("bucketing off") and small buckets ("on") through the shared-memory reducer DDP uses on
    # one machine, and one bucket through MPI_Iallreduce (EMBER_DDP_SHM=0, what DDP uses across machines)
    variants = {"plain": None} if n == 1 else {
        **{f"bucket_{mb}MB": (mb, "1") for mb in buckets_mb}, f"bucket_{buckets_mb[0]}MB_mpi": (buckets_mb[0], "0")}
    for label, var in variants.items():
        mb = None if var is None else var[0]
        if var is not None:
            os.environ["EMBER_DDP_SHM"] = var[1]
        net = em if mb is None else DDP(em, bucket_cap_mb=mb)
        opt = ember.optim.SGD(em.parameters(), lr=0.01)

        def step(net=net, opt=opt):
            opt.zero_grad()
            enn.functional.cross_entropy(net(ex), ey).backward()
            opt.step()

        if mb is None:
            for _ in range(3):
                step()
            ts, cs = [], []
            for _ in range(3 * reps):
                t0, c0 = time.perf_counter(), _cpu()
                step()
                ts.append(time.perf_counter() - t0)
                cs.append(_cpu() - c0)
            out["ember"][label] = {"step_s": statistics.median(ts), "step_cpu_s": statistics.median(cs)}
            continue

        def local_step(net=net, step=step):  # the same step without any all-reduce (same contention)
            with net.no_sync():
                step()

        def comm_alone(net=net):  # the buckets' all-reduces alone, blocking
            net._allreduce_buckets()

        stats = net._enable_comm_stats() if hasattr(net, "_enable_comm_stats") else None
        keys = ("copy_cpu", "reduce_cpu", "finalize_cpu", "wait_wall", "wait_cpu", "early_reduces", "reduces")
        ts = {k: [] for k in ("step", "local", "alone", "step_cpu", "local_cpu", "alone_cpu", "exposed", *keys)}
        for f in (step, local_step, comm_alone, step):
            f()
        # interleaved, so that all three see the same load
        for _ in range(reps):
            for key, f in (("step", step), ("local", local_step), ("alone", comm_alone)):
                comm.Barrier()
                before = stats.as_dict() if stats is not None else None
                e0 = net.comm_seconds
                t0, c0 = time.perf_counter(), _cpu()
                f()
                ts[key].append(time.perf_counter() - t0)
                ts[key + "_cpu"].append(_cpu() - c0)
                if key == "step":
                    ts["exposed"].append(net.comm_seconds - e0)
                    if stats is not None:
                        after = stats.as_dict()
                        for k in keys:
                            ts[k].append(after[k] - before[k])
        med = {k: statistics.median(v) for k, v in ts.items() if v}
        row = {"step_s": med["step"], "step_cpu_s": med["step_cpu"], "local_step_s": med["local"],
               "local_step_cpu_s": med["local_cpu"], "allreduce_alone_s": med["alone"],
               "allreduce_alone_cpu_s": med["alone_cpu"], "exposed_comm_s": med["exposed"],
               "buckets": len(net._buckets), "shared_memory": net._shm is not None}
        if stats is not None:
            row.update({k + ("_s" if k not in ("early_reduces", "reduces") else ""): med[k] for k in keys})
            work = [a + b + c for a, b, c in zip(ts["copy_cpu"], ts["reduce_cpu"], ts["finalize_cpu"])]
            comp = [s - w - c for s, w, c in zip(ts["step_cpu"], work, ts["wait_cpu"])]
            row["comm_work_cpu_s"] = statistics.median(work)
            row["compute_cpu_s"] = statistics.median(comp)
        # overlap: the part of the all-reduce's time that does not show in the step time
        row["overlap"] = min(1.0, max(0.0, 1.0 - (row["step_s"] - row["local_step_s"]) / row["allreduce_alone_s"]))
        for h in net._handles:
            h.remove()
        rows = comm.gather(row, root=0)
        out["ember"][label] = rows
    out["loadavg"] = os.getloadavg()[0]

    torch, tdist = _torch_init(r, n)
    torch.manual_seed(0)
    tm = make(torch.nn)
    tnet = tm if n == 1 else torch.nn.parallel.DistributedDataParallel(tm)
    topt = torch.optim.SGD(tm.parameters(), lr=0.01)
    tx, ty = torch.tensor(x), torch.tensor(y)

    def tstep():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tnet(tx), ty).backward()
        topt.step()

    out["torch"]["step_s"] = _median_time(tstep, reps, comm=comm)
    tdist.destroy_process_group()
    if r == 0:
        print("RESULT " + json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- driver
def _launch(n, args, port):
    env = dict(os.environ)
    src = os.environ.get("EMBER_BENCH_SRC") or os.path.join(os.path.dirname(HERE), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["MASTER_PORT"] = str(port)
    env["OMP_NUM_THREADS"] = "1"
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    cmd = [mpiexec, "-n", str(n), sys.executable, os.path.abspath(__file__), "--worker", *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, start_new_session=True)
    except subprocess.TimeoutExpired as e:
        raise SystemExit(f"bench job timed out: {cmd}") from e
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"bench job failed ({p.returncode}): {cmd}\n{p.stdout}\n{p.stderr}")


def _rng(vals, scale=1e3, fmt="{:.2f}"):
    """'median [min-max]' of a list of numbers (scaled: ms by default)."""
    v = [x * scale for x in vals]
    return f"{fmt.format(statistics.median(v))} [{fmt.format(min(v))}-{fmt.format(max(v))}]"


def round_metrics(one, two):
    """The numbers of one round (a 1-process job and a 2-rank job launched one after the other)."""
    t1, c1 = one["ember"]["plain"]["step_s"], one["ember"]["plain"].get("step_cpu_s")
    m = {"t1": t1, "t1_cpu": c1, "load": max(one.get("loadavg", 0), two.get("loadavg", 0),
                                             two.get("loadavg_start", 0)), "variants": {}}
    for label, ranks in two["ember"].items():
        slow = lambda k, ranks=ranks: max(rk[k] for rk in ranks)  # noqa: E731 - the slower rank's median
        v = {"buckets": ranks[0]["buckets"], "step": slow("step_s"), "local": slow("local_step_s"),
             "alone": slow("allreduce_alone_s"), "alone_cpu": slow("allreduce_alone_cpu_s"),
             "exposed": slow("exposed_comm_s"), "local_cpu": slow("local_step_cpu_s")}
        v["eff_local_cpu"] = c1 / v["local_cpu"] if c1 else None  # 2 ranks slow each other down without any
        # communication (shared caches, memory bandwidth, the host's scheduling of the 2 vCPUs)
        v["eff_wall"] = t1 / v["step"]
        v["overlap"] = min(1.0, max(0.0, 1.0 - (v["step"] - v["local"]) / v["alone"]))
        if "comm_work_cpu_s" in ranks[0]:
            v["compute_cpu"] = slow("compute_cpu_s")
            v["work_cpu"] = slow("comm_work_cpu_s")
            for k in ("copy_cpu_s", "reduce_cpu_s", "finalize_cpu_s", "wait_wall_s", "wait_cpu_s"):
                v[k] = slow(k)
            v["early"] = min(rk["early_reduces"] for rk in ranks)
            v["reduces"] = ranks[0]["reduces"]
            # the step if each rank had a core of its own: its compute plus the communication's work, the
            # slower rank's (waiting excluded: it is what the other jobs on the machine add)
            v["cost_step"] = max(rk["compute_cpu_s"] + rk["comm_work_cpu_s"] for rk in ranks)
            v["eff_cost"] = c1 / v["cost_step"] if c1 else None
            v["eff_comm"] = 1.0 / (1.0 + v["work_cpu"] / c1) if c1 else None
        m["variants"][label] = v
    m["torch_eff"] = one["torch"]["step_s"] / two["torch"]["step_s"]
    m["torch1"], m["torch2"] = one["torch"]["step_s"], two["torch"]["step_s"]
    return m


def main(argv):
    quick = "--quick" in argv
    q = ["--quick"] if quick else []
    port = 29500 + os.getpid() % 1000
    rounds = 1
    for flag in ("--rounds", "--blocks"):
        if flag in argv:
            rounds = int(argv[argv.index(flag) + 1])
    only = "--scaling-only" in argv
    models = argv[argv.index("--models") + 1].split(",") if "--models" in argv else ["mlp", "cnn"]
    res = {"allreduce": None if only else _launch(2, ["allreduce", *q], port), "scaling": {}}
    print(f"load average at the start: {os.getloadavg()[0]:.2f} (2 cores)")
    if not only:
        print("all_reduce on 2 ranks (float32, median; bus bw = 2(p-1)/p x bytes / time)")
        print(f"{'size':>8} {'ember':>10} {'alg GB/s':>9} {'bus GB/s':>9} {'fastest':>10} {'gloo':>10} "
              f"{'gloo GB/s':>9} {'np copy GB/s':>12}")
    for row in res["allreduce"]["rows"] if not only else ():
        b = row["bytes"]
        bw = b / row["ember_s"] / 1e9
        print(f"{_fmt_size(b):>8} {row['ember_s'] * 1e6:8.1f}us {bw:9.2f} {bw:9.2f} {row['ember_min_s'] * 1e6:8.1f}us "
              f"{row['torch_gloo_s'] * 1e6:8.1f}us "
              f"{b / row['torch_gloo_s'] / 1e9:9.2f} {b / row['numpy_copy_s'] / 1e9:12.2f}")
    buckets = ["1000", "0.1"]
    for model in models:
        ones, twos, mets = [], [], []
        for _ in range(rounds):  # 1 process and 2 ranks one after the other, every round
            ones.append(_launch(1, ["step", model, *q, *buckets], port + 1))
            twos.append(_launch(2, ["step", model, *q, *buckets], port + 2))
            mets.append(round_metrics(ones[-1], twos[-1]))
        res["scaling"][model] = {"1": _median_tree(ones), "2": _median_tree(twos), "rounds": mets}
        _print_scaling(model, ones[0]["grad_bytes"], mets)
    if "--json" in argv:
        with open(argv[argv.index("--json") + 1], "w") as f:
            json.dump(res, f, indent=1)
    if not only:
        print("\nring all-reduce cost model, projected step time and efficiency (see docs/distributed.md)")
        print(project(res))
    return res


def _print_scaling(model, grad_bytes, mets):
    n = len(mets)
    print(f"\nweak scaling {model.upper()} (per-rank batch fixed, {grad_bytes / 1e6:.2f} MB of gradients), "
          f"{n} round(s): median [min-max] over the rounds of each round's medians; times in ms per step")
    print(f"  load average (1 min) during the rounds: {_rng([m['load'] for m in mets], 1)}")
    print(f"  ember 1 process: wall {_rng([m['t1'] for m in mets])}, CPU {_rng([m['t1_cpu'] or 0 for m in mets])}")
    for label in mets[0]["variants"]:
        vs = [m["variants"][label] for m in mets]
        g = lambda k, s=1e3, f="{:.2f}", vs=vs: _rng([v[k] for v in vs], s, f)  # noqa: E731
        print(f"  2 ranks, {label} ({vs[0]['buckets']} buckets):")
        print(f"    wall: step {g('step')}, efficiency {g('eff_wall', 100, '{:.0f}%')}; without all-reduce "
              f"{g('local')} (CPU {g('local_cpu')}: t1 CPU / that {g('eff_local_cpu', 100, '{:.0f}%')}); all-reduce alone {g('alone')} (CPU {g('alone_cpu')}); overlap "
              f"{g('overlap', 100, '{:.0f}%')}")
        if "work_cpu" in vs[0]:
            print(f"    per rank (slower rank): compute CPU {g('compute_cpu')}, communication work CPU {g('work_cpu')} "
                  f"(copy in {g('copy_cpu_s')}, sum {g('reduce_cpu_s')}, write back {g('finalize_cpu_s')}); "
                  f"waiting wall {g('wait_wall_s')}, CPU {g('wait_cpu_s')}")
            print(f"    cost efficiency t1 CPU / (compute + communication work) {g('eff_cost', 100, '{:.0f}%')}; "
                  f"communication alone t1 CPU / (t1 CPU + work) {g('eff_comm', 100, '{:.0f}%')}; "
                  f"slices summed during backward: {vs[0]['early']} of {vs[0]['reduces']}")
    print(f"  torch 1 process {_rng([m['torch1'] for m in mets])}, torch DDP 2 ranks (gloo) "
          f"{_rng([m['torch2'] for m in mets])}, efficiency {_rng([m['torch_eff'] for m in mets], 100, '{:.0f}%')}")


def _median_tree(items):
    """The median of every number over a list of same-shaped result dicts (one per block)."""
    first = items[0]
    if isinstance(first, dict):
        return {k: _median_tree([it[k] for it in items]) for k in first}
    if isinstance(first, list):
        return [_median_tree([it[i] for it in items]) for i in range(len(first))]
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return statistics.median(items)
    return first


# ----------------------------------------------------------------------------- cost model
NETWORKS = {  # name -> (per-message latency alpha in s, bandwidth beta in bytes/s); alphas are assumptions
    "10 Gb/s TCP": (25e-6, 10e9 / 8),
    "25 Gb/s TCP": (15e-6, 25e9 / 8),
    "100 Gb/s RDMA": (3e-6, 100e9 / 8),
}


def ring_allreduce_s(nbytes, p, alpha, beta):
    """Ring all-reduce: 2(p-1) steps, each one message of nbytes/p: 2(p-1) alpha + 2(p-1)/p nbytes/beta."""
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes / beta if p > 1 else 0.0


def fit(rows, key="ember_min_s"):
    """Least-squares alpha, beta of T = 2 alpha + S / beta (p = 2) on the measured all-reduce times
    (relative errors: each size weighs the same)."""
    S = np.array([r["bytes"] for r in rows], float)
    T = np.array([r[key] for r in rows], float)
    A = np.stack([2 * np.ones_like(S), S], 1) / T[:, None]
    (alpha, inv_beta), *_ = np.linalg.lstsq(A, np.ones_like(T), rcond=None)
    return max(alpha, 0.0), 1.0 / inv_beta


def project(res, overlap=0.0):
    alpha, beta = fit(res["allreduce"]["rows"])
    lines = [f"fitted on this machine (2 ranks, shared memory, fastest of the repeats): alpha = {alpha * 1e6:.1f} us, "
             f"beta = {beta / 1e9:.2f} GB/s", ""]
    nets = {"this machine (fit)": (alpha, beta), **NETWORKS}
    for model, sc in res["scaling"].items():
        plain = sc["1"]["ember"]["plain"]
        t1 = plain.get("step_cpu_s") or plain["step_s"]  # CPU time: what the step costs without neighbours
        g = sc["1"]["grad_bytes"]
        lines.append(f"{model.upper()}: compute {t1 * 1e3:.1f} ms/step per rank (1-process step, CPU time), {g / 1e6:.2f} MB of gradients, "
                     f"overlap assumed {overlap:.0%}")
        lines.append("| network | " + " | ".join(f"p={p}" for p in (8, 32, 64, 256)) + " |")
        lines.append("|---|" + "---:|" * 4)
        for name, (a, b) in nets.items():
            cells = []
            for p in (8, 32, 64, 256):
                comm = ring_allreduce_s(g, p, a, b) * (1 - overlap)
                cells.append(f"{(t1 + comm) * 1e3:.1f} ms, {t1 / (t1 + comm):.0%}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _fmt_size(b):
    return f"{b // 2**20} MB" if b >= 2**20 else f"{b // 2**10} KB"


if __name__ == "__main__":
    if "--worker" in sys.argv:
        a = sys.argv[sys.argv.index("--worker") + 1:]
        quick = "--quick" in a
        a = [x for x in a if x != "--quick"]
        if a[0] == "allreduce":
            worker_allreduce(quick)
        else:
            worker_step(a[1], quick, [float(x) for x in a[2:]])
    elif "--project" in sys.argv:  # the cost model again from a saved --json file
        with open(sys.argv[sys.argv.index("--project") + 1]) as f:
            print(project(json.load(f)))
    else:
        main(sys.argv[1:])
