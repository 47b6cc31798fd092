"""ember.distributed, DistributedDataParallel, DistributedSampler and ``ember run``.

The multi-process tests start MPI jobs (``mpiexec`` of the MPICH wheel, ``pip install ember[mpi]``);
they skip only when mpi4py is missing. Every job runs under a timeout and its whole process group is
killed when the timeout hits, so nothing here can hang CI.
"""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import ember

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "dist_scripts")
SRC = os.path.join(os.path.dirname(HERE), "src")

try:
    import mpi4py  # noqa: F401

    HAVE_MPI = True
except ImportError:
    HAVE_MPI = False
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="mpi4py is not installed (pip install ember[mpi])")


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env.pop("EMBER_DISTRIBUTED_DEBUG", None)
    env.pop("PYTEST_CURRENT_TEST", None)  # the scripts relaunch themselves; they are not tests
    env.update(extra)
    return env


def launch(args, timeout=60, **env):
    """Start ``ember run args`` in its own process group; returns the Popen."""
    return subprocess.Popen([sys.executable, "-m", "ember", "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(**env), start_new_session=True)


def finish(proc, timeout=60):
    """(returncode, output, seconds waited); kills the whole process group on timeout and fails."""
    t0 = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"MPI job did not finish within {timeout} s; output:\n{out}")
    return proc.returncode, out, time.monotonic() - t0


def sigterm_when_both(proc, ranks_in, limit=60):
    """Read the job's output until ``ranks_in(line)`` has named both ranks (or ``limit`` seconds passed), then
    send SIGTERM to the launcher and finish the job: (returncode, output, seconds waited, ranks seen)."""
    lines, seen, t0 = [], set(), time.monotonic()
    try:
        for line in proc.stdout:
            lines.append(line)
            seen.update(ranks_in(line))
            if len(seen) == 2 or time.monotonic() - t0 > limit:
                break
        proc.send_signal(signal.SIGTERM)
        rc, rest, secs = finish(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return rc, "".join(lines) + rest, secs, seen


def run(args, timeout=60, **env):
    t0 = time.monotonic()
    rc, out, _ = finish(launch(args, **env), timeout)
    return rc, out, time.monotonic() - t0


# ----------------------------------------------------------------------------- no MPI needed
def test_import_ember_does_not_import_mpi():
    code = "import sys, ember, ember.nn; print('mpi4py' in sys.modules, 'ember.distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_not_initialized_errors():
    import ember.distributed as dist
    from ember.nn.parallel import DistributedDataParallel

    assert dist.is_available() and not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier, lambda: dist.all_reduce(ember.ones(2))):
        with pytest.raises(RuntimeError, match=r"init_process_group\(\) first"):
            fn()
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedDataParallel(ember.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="backend 'nccl' is not available"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="timeout must be positive"):
        dist.init_process_group("mpi", timeout=0)
    assert not dist.is_initialized()


@pytest.mark.parametrize("n", [0, 1, 2, 7, 10, 13, 101])
def test_distributed_sampler_matches_torch(n):
    from torch.utils.data import DistributedSampler as TorchDS

    from ember.utils.data import DistributedSampler

    for world in (1, 2, 3, 4):
        for drop_last in (False, True):
            for shuffle in (False, True):
                for epoch in (0, 5):
                    for rank in range(world):
                        ours = DistributedSampler(range(n), world, rank, shuffle=shuffle, seed=11, drop_last=drop_last)
                        ref = TorchDS(range(n), world, rank, shuffle=shuffle, seed=11, drop_last=drop_last)
                        ours.set_epoch(epoch)
                        ref.set_epoch(epoch)
                        assert list(ours) == list(ref) and len(ours) == len(ref), (world, rank, drop_last, shuffle)


def test_torch_randperm_matches_torch():
    from ember.utils.data.distributed import torch_randperm

    for n, seed in [(1, 0), (2, 1), (1000, 123), (70000, 2**40 + 5), (5, -3)]:
        g = torch.Generator()
        g.manual_seed(seed)
        assert torch_randperm(n, seed) == torch.randperm(n, generator=g).tolist(), (n, seed)


def test_distributed_sampler_in_a_dataloader_and_errors():
    from ember.utils.data import DataLoader, DistributedSampler, TensorDataset

    ds = TensorDataset(ember.arange(10))
    s = DistributedSampler(ds, num_replicas=2, rank=1, shuffle=False)
    assert [b[0].tolist() for b in DataLoader(ds, batch_size=2, sampler=s)] == [[1, 3], [5, 7], [9]]
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(ds, num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(ds)


def test_launcher_command_line():
    from ember.distributed.launch import build_command

    cmd, env = build_command(["-n", "4", "train.py", "--lr", "0.1", "-n", "3"], python="py")
    assert cmd[1:] == ["-n", "4", "py", "train.py", "--lr", "0.1", "-n", "3"] and cmd[0].endswith("mpiexec")
    hosts = os.path.join(SCRIPTS, "suite.py")  # any existing file stands in for a host file
    cmd, _ = build_command(["-n", "8", "--hostfile", hosts, "--ppn", "4", "--mpi-arg=-v", "-m", "pkg.train", "--x"],
                           python="py")
    assert cmd[1:] == ["-n", "8", "-f", hosts, "-ppn", "4", "-v", "py", "-m", "pkg.train", "--x"]
    with pytest.raises(SystemExit):
        build_command(["-n", "2", "--hostfile", "/no/such/hosts", "a.py"])
    out = subprocess.run([sys.executable, "-m", "ember", "run", "-n", "2", "--mpiexec", "/no/such/mpiexec", "a.py"],
                         capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode != 0
    out = subprocess.run([sys.executable, "-m", "ember", "--help"], capture_output=True, text=True, env=_env(),
                         timeout=60)
    assert "demo" in out.stdout and "run -n 4 train.py" in out.stdout


def test_pip_install_ember_mpi_is_all_the_set_up():
    """The mpi extra brings mpi4py and the MPICH wheel (which installs mpiexec next to python); the dev extra
    that `make test` installs has both, so CI runs the multi-process tests instead of skipping them."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    root = os.path.dirname(HERE)
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]

    def names(reqs):
        return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in reqs}

    assert names(extras["mpi"]) == {"mpi4py", "mpich"}, extras["mpi"]
    assert {"mpi4py", "mpich"} <= names(extras["dev"]), extras["dev"]
    with open(os.path.join(root, "Makefile")) as f:
        assert '-e ".[dev]"' in f.read()
    if HAVE_MPI:  # this environment: ember run finds the wheel's mpiexec with no configuration
        from ember.distributed.launch import find_mpiexec

        env_mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        if os.path.exists(env_mpiexec) and "EMBER_MPIEXEC" not in os.environ:
            assert find_mpiexec() == env_mpiexec


# ----------------------------------------------------------------------------- MPI jobs
@needs_mpi
@pytest.mark.parametrize("shm", ["1", "0"])
def test_collectives_and_ddp_contract_on_3_ranks(shm):
    """shm=0: DDP's MPI_Iallreduce reducer, the one it uses when the ranks are on several machines."""
    rc, out, _ = run(["-n", "3", os.path.join(SCRIPTS, "suite.py")], EMBER_DDP_SHM=shm)
    assert rc == 0, out
    assert sorted(re.findall(r"COLLECTIVES OK (\d)", out)) == ["0", "1", "2"], out
    assert sorted(re.findall(r"DDP OK (\d)", out)) == ["0", "1", "2"], out


@pytest.fixture(scope="module")
def one_process_reference():
    sys.path.insert(0, SCRIPTS)
    try:
        import train_cases
    finally:
        sys.path.remove(SCRIPTS)
    return {name: train_cases.run_case(name, 1, 0, ddp=False) for name in train_cases.CASES}


@needs_mpi
@pytest.mark.parametrize("ranks,shm", [(1, "1"), (2, "1"), (4, "1"), (2, "0")])
def test_n_ranks_train_like_one(ranks, shm, one_process_reference, tmp_path):
    """MLP, CNN (+SyncBatchNorm), LSTM, transformer; each also with accumulation (no_sync) + clipping + a scheduler:
    20 steps with the same global batch on N ranks give one process's weights within 1e-5 relative; two runs
    on 2 ranks give the same bits. shm=0: DDP's MPI_Iallreduce reducer (several machines)."""
    out = tmp_path / "w.ember"
    rc, text, _ = run(["-n", str(ranks), os.path.join(SCRIPTS, "train_cases.py"), str(out)], timeout=120,
                      EMBER_DDP_SHM=shm)
    assert rc == 0, text
    got = ember.load(str(out))
    assert set(got) == set(one_process_reference)
    for case, ref in one_process_reference.items():
        assert set(got[case]) == set(ref)
        for k, v in ref.items():
            a, b = got[case][k].numpy(), v.numpy()
            assert a.dtype == b.dtype == (np.int64 if k.endswith("num_batches_tracked") else np.float32)
            scale = max(float(np.abs(b).max()), 1e-30)
            assert float(np.abs(a.astype(np.float64) - b).max()) / scale <= 1e-5, (ranks, case, k)
    if ranks == 2 and shm == "1":  # the same number of ranks again: bit-identical (sums in rank order, no race decides)
        again = tmp_path / "w2.ember"
        rc, text, _ = run(["-n", "2", os.path.join(SCRIPTS, "train_cases.py"), str(again)], timeout=120)
        assert rc == 0, text
        got2 = ember.load(str(again))
        for case in got:
            for k, v in got[case].items():
                assert np.array_equal(got2[case][k].numpy(), v.numpy()), (case, k)


def _since_fault(out):
    """Seconds from the fault (the script prints FAULT_AT <time>) to now, the job having ended."""
    m = re.search(r"FAULT_AT ([0-9.]+)", out)
    assert m, out
    return time.time() - float(m.group(1))


@needs_mpi
def test_exception_on_one_rank_ends_the_job_with_its_traceback():
    rc, out, _ = run(["-n", "2", os.path.join(SCRIPTS, "faults.py"), "raise"])
    assert rc != 0
    assert "[ember.distributed] rank 1 of 2 failed" in out and "[rank 1] ValueError: boom on purpose" in out, out
    assert re.search(r"\[rank 1\] Traceback \(most recent call last\):\n(\[rank 1\] .*\n)*\[rank 1\] .*faults\.py\", "
                     r"line \d+, in <module>", out), out
    assert _since_fault(out) < 5


@needs_mpi
def test_rank_killed_by_a_signal_ends_the_job():
    rc, out, _ = run(["-n", "2", os.path.join(SCRIPTS, "faults.py"), "kill"])
    assert rc != 0 and "signal 9" in out, out
    assert _since_fault(out) < 10


@needs_mpi
def test_debug_mode_names_the_rank_with_another_shape():
    rc, out, secs = run(["-n", "2", os.path.join(SCRIPTS, "faults.py"), "debug"], EMBER_DISTRIBUTED_DEBUG="1")
    assert rc != 0
    assert "all_reduce: ranks [1] called a different collective or different shapes" in out, out
    assert "rank 1: all_reduce(float32[3], op=SUM)" in out and "rank 0: all_reduce(float32[2], op=SUM)" in out
    # another collective on rank 1: raised on both ranks (caught there), naming rank 1, before the shape check
    for r, who in ((0, "all_reduce"), (1, "broadcast")):
        assert f"CAUGHT {r}: {who}: ranks [1] called a different collective" in out, out
    assert "rank 1: broadcast(float32[2], src=0)" in out, out


@needs_mpi
@pytest.mark.parametrize("mode", ["raise_in_backward", "kill_in_backward"])
def test_fault_inside_a_ddp_backward_ends_the_job(mode):
    """Rank 0 waits for rank 1's gradients in the shared-memory reducer (flags, not an MPI call) when rank 1
    fails inside backward: the job still ends (5 s for an exception, 10 s for a signal)."""
    rc, out, _ = run(["-n", "2", os.path.join(SCRIPTS, "faults.py"), mode])
    assert rc != 0 and "UNEXPECTED" not in out, out
    if mode == "raise_in_backward":
        assert "[ember.distributed] rank 1 of 2 failed" in out and "[rank 1] ValueError: boom in backward" in out, out
        assert re.search(r"\[rank 1\] .*faults\.py\", line \d+, in fail", out), out  # the traceback itself
        assert _since_fault(out) < 5
    else:
        assert "signal 9" in out, out
        assert _since_fault(out) < 10


@needs_mpi
def test_sigterm_to_the_launcher_stops_every_rank_at_the_same_step():
    proc = launch(["-n", "2", os.path.join(SCRIPTS, "faults.py"), "sigterm"])
    # wait until both ranks are stepping (two ranks' lines may share one line)
    rc, out, secs, _ = sigterm_when_both(proc, lambda line: re.findall(r"STEPPING (\d)", line))
    assert rc == 0, out
    stops = re.findall(r"STOPPED (\d) at step (\d+), received=True", out)
    assert sorted(r for r, _ in stops) == ["0", "1"] and len({s for _, s in stops}) == 1, out
    assert sorted(re.findall(r"EXIT (\d)", out)) == ["0", "1"], out
    assert secs < 10, secs


@needs_mpi
def test_a_stuck_rank_ends_the_job_after_the_timeout():
    """A rank that never runs its backward: the others' wait in DDP's shared-memory reducer ends after
    init_process_group(timeout=2 s) with an error naming it, which ends the job."""
    rc, out, _ = run(["-n", "2", os.path.join(SCRIPTS, "faults.py"), "stuck"])
    assert rc != 0 and "UNEXPECTED" not in out, out
    assert "[rank 0] RuntimeError: DistributedDataParallel: waited 2 s for ranks [1] to publish their gradients" \
        in out, out
    assert 2 < _since_fault(out) < 2 + 5


# ----------------------------------------------------------------------------- the Trainer under ddp
def test_trainer_device_flags_need_ddp():
    from ember.train import Trainer

    with pytest.raises(ValueError, match="strategy='ddp'"):
        Trainer(devices=2)
    with pytest.raises(ValueError, match="'ddp' \\(data parallel over MPI\\)"):
        Trainer(strategy="fsdp")
    with pytest.raises(ValueError, match="accelerator='gpu'"):
        Trainer(strategy="ddp", accelerator="gpu", devices=2)
    with pytest.raises(RuntimeError, match="cannot relaunch this program under mpiexec.*ember run -n 2"):
        Trainer(strategy="ddp", accelerator="cpu", devices=2)  # inside pytest: no relaunch
    with pytest.raises(RuntimeError, match=r"num_nodes=2\): outside an MPI job.*ember run -n 6 --hostfile HOSTS --ppn 3"):
        Trainer(strategy="ddp", accelerator="cpu", devices=3, num_nodes=2)  # not on one machine
    t = Trainer(logger=False, enable_checkpointing=False)
    assert (t.world_size, t.global_rank, t.local_rank, t.is_global_zero) == (1, 0, 0, True)
    assert t.strategy.reduce_boolean_decision(True) and t.strategy.broadcast(3) == 3


TRAINER = os.path.join(SCRIPTS, "trainer_ddp.py")


def _plain(args, timeout=120):
    """``python script args`` (not under MPI) in its own process group, with a timeout."""
    p = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=_env(), start_new_session=True)
    rc, out, _ = finish(p, timeout)
    return rc, out


def _weights(d):
    return {k: v.numpy() for k, v in ember.load(os.path.join(d, "weights.ember")).items()}


@pytest.fixture(scope="module")
def trainer_runs(tmp_path_factory):
    """Uninterrupted fits: 1 process, and 2 ranks started by the Trainer itself (relaunch under mpiexec)."""
    if not HAVE_MPI:
        pytest.skip("mpi4py is not installed (pip install ember[mpi])")
    one, two = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    rc, out = _plain([TRAINER, str(one), "full", "--devices", "1"])
    assert rc == 0, out
    rc, out = _plain([TRAINER, str(two), "full", "--devices", "2"])
    assert rc == 0 and sorted(re.findall(r"TRAINER DONE (\d)", out)) == ["0", "1"], out
    return one, two


@needs_mpi
def test_trainer_ddp_matches_one_process(trainer_runs):
    """EarlyStopping + ModelCheckpoint: same stopping epoch, same checkpoint files, same weights."""
    import json

    one, two = trainer_runs
    r1, r2 = (json.loads((d / "result.json").read_text()) for d in (one, two))
    assert r2["world"] == 2 and r1["world"] == 1
    assert r1["stop_reason"] == r2["stop_reason"] == "should_stop"  # EarlyStopping fired
    for k in ("epoch", "global_step", "files", "best"):
        assert r1[k] == r2[k], (k, r1, r2)
    w1, w2 = _weights(one), _weights(two)
    for k in w1:
        assert np.abs(w1[k] - w2[k]).max() <= 1e-5 * max(np.abs(w1[k]).max(), 1e-30), k
    # self.log(..., sync_dist=True): the values are those of the global batch (one process's)
    m1, m2 = r1["metrics"], r2["metrics"]
    assert set(m1) == set(m2) and {"val_loss", "train_loss"} <= set(m1), (m1, m2)
    for k in m1:
        assert abs(m1[k] - m2[k]) <= 1e-5 * max(abs(m1[k]), 1e-6), (k, m1, m2)
    # the logger writes on rank 0 only: one version directory, the same files, the same logged values
    logs1, logs2 = (sorted(p.relative_to(d).as_posix() for p in (d / "ember_logs").rglob("*")) for d in (one, two))
    assert logs1 == logs2 and "ember_logs/version_0/metrics.csv" in logs1 and not any("version_1" in p for p in logs2), logs2
    csv1, csv2 = ((d / "ember_logs" / "version_0" / "metrics.csv").read_text().splitlines() for d in (one, two))
    assert csv1[0] == csv2[0] and len(csv1) == len(csv2), (csv1[:3], csv2[:3])
    for a, b in zip(csv1[1:], csv2[1:]):
        va, vb = ([float(v) if v else np.nan for v in row.split(",")] for row in (a, b))
        np.testing.assert_allclose(va, vb, rtol=1e-5, atol=1e-7, err_msg=f"{a} / {b}")


@needs_mpi
def test_trainer_ddp_killed_at_a_random_step_resumes_exactly_with_2_and_1_ranks(trainer_runs, tmp_path):
    """SIGKILL at a random global step of a 2-rank fit (checkpoints every 2 steps, mid-epoch ones too); resuming
    the newest checkpoint on 2 ranks gives the uninterrupted run's weights bit for bit and stops at the same
    step; on 1 process the same weights up to float rounding. (The checkpoint *files* can differ: files the
    killed run wrote after its newest checkpoint stay, and the resumed ModelCheckpoint names around them with
    -v1, as Lightning's does.)"""
    import json
    import random
    import shutil

    one, two = trainer_runs
    final = json.loads((two / "result.json").read_text())["global_step"]
    k = random.randrange(3, final)  # killed in on_train_batch_end, before step k's checkpoint: step 2's exists
    dead = tmp_path / "dead"
    rc, out, _ = run(["-n", "2", TRAINER, str(dead), "full", "--step-ckpts", "--kill-at", str(k)], timeout=120)
    assert rc != 0 and f"KILLED AT {k}" in out and "TRAINER DONE" not in out, (k, out)
    saved = {int(re.search(r"step=(\d+)", p.name).group(1)): p for p in (dead / "steps").glob("*.ckpt")}
    assert saved and max(saved) <= k, (k, sorted(saved))
    ckpt = saved[max(saved)]
    assert ember.load(str(ckpt))["global_step"] == max(saved)
    again = tmp_path / "again"
    shutil.copytree(dead, again)
    rc, out, _ = run(["-n", "2", TRAINER, str(dead), "resume", "--step-ckpts", "--ckpt", str(ckpt)], timeout=120)
    assert rc == 0, (k, out)
    w2, r2 = _weights(two), _weights(dead)
    for name in w2:
        assert np.array_equal(w2[name], r2[name]), (k, name)  # same number of processes: bit-identical
    res_full, res_dead = (json.loads((d / "result.json").read_text()) for d in (two, dead))
    for key in ("epoch", "global_step", "stop_reason"):
        assert res_full[key] == res_dead[key], (k, key, res_full, res_dead)
    ckpt1 = again / "steps" / ckpt.name
    rc, out = _plain([TRAINER, str(again), "resume", "--step-ckpts", "--ckpt", str(ckpt1), "--devices", "1"])
    assert rc == 0, (k, out)
    r1 = _weights(again)
    for name in w2:
        assert np.abs(w2[name] - r1[name]).max() <= 1e-5 * max(np.abs(w2[name]).max(), 1e-30), (k, name)


@needs_mpi
def test_trainer_ddp_sigterm_to_the_launcher_saves_last_ckpt_and_resumes(trainer_runs, tmp_path):
    """SIGTERM to ``ember run`` during a 2-rank fit: every rank finishes its step, rank 0 writes last.ckpt, all
    exit (within 10 s, status 143); resuming it on 2 ranks gives the uninterrupted weights bit for bit."""
    one, two = trainer_runs
    d = tmp_path / "term"
    proc = launch(["-n", "2", TRAINER, str(d), "full", "--sleep", "0.2"])
    rc, out, secs, seen = sigterm_when_both(  # both ranks past step 3
        proc, lambda line: [r for r, k in re.findall(r"STEP (\d) (\d+)", line) if int(k) >= 3])
    assert len(seen) == 2 and "SIGTERM received: saved" in out and "TRAINER DONE" not in out, out
    assert rc == 143 and secs < 10, (rc, secs, out)
    (ckpt,) = d.glob("ember_logs/*/checkpoints/last.ckpt")
    at = ember.load(str(ckpt))["global_step"]
    last = {r: max(int(k) for k in re.findall(rf"STEP {r} (\d+)", out)) for r in "01"}
    assert last == {"0": at, "1": at}, (at, last)  # every rank stopped after the same step, the saved one
    rc, out, _ = run(["-n", "2", TRAINER, str(d), "resume", "--ckpt", str(ckpt)], timeout=120)
    assert rc == 0, out
    w2, r2 = _weights(two), _weights(d)
    for name in w2:
        assert np.array_equal(w2[name], r2[name]), name


@needs_mpi
def test_trainer_ddp_stop_on_one_rank_and_batchnorm_in_validation(tmp_path):
    """should_stop set by a callback on rank 1 only stops every rank after the same step (and the progress bar
    prints on rank 0 only); with a plain
    BatchNorm, every validation of the fit runs on rank 0's running statistics on every rank (DDP's
    broadcast_buffers, as Lightning's validation through DDP's forward)."""
    import json

    rc, out, _ = run(["-n", "2", TRAINER, str(tmp_path), "full", "--rank1-stop-at", "9", "--bn", "--progress-bar"],
                     timeout=120)
    assert rc == 0, out
    # a progress bar passed by the user and the model summary print on rank 0 only
    assert out.count("Epoch 0:") == 1 and out.count("Trainable params") == 1, out
    assert sorted(re.findall(r"TRAINER DONE (\d) step (\d+)", out)) == [("0", "9"), ("1", "9")], out
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["global_step"] == 9 and len(res["bn_equal"]) >= 2 and all(res["bn_equal"]), res


@needs_mpi
def test_trainer_ddp_exception_in_training_step_ends_the_fit(tmp_path):
    """An exception in training_step on rank 1 (the Trainer runs its on_exception hooks first) ends the job
    within 5 s with rank 1's traceback."""
    rc, out, _ = run(["-n", "2", TRAINER, str(tmp_path), "full", "--raise-at", "5"], timeout=120)
    assert rc != 0 and "TRAINER DONE" not in out, out
    assert "[ember.distributed] rank 1 of 2 failed" in out, out
    assert "[rank 1] ValueError: training_step failed on purpose at step 5" in out, out
    assert re.search(r"\[rank 1\] .*trainer_ddp\.py\", line \d+, in training_step", out), out
    assert _since_fault(out) < 5


@needs_mpi
def test_trainer_ddp_sigterm_and_exact_resume_with_2_and_1_ranks(trainer_runs, tmp_path):
    import shutil

    one, two = trainer_runs
    stop = tmp_path / "stop"
    rc, out, _ = run(["-n", "2", TRAINER, str(stop), "stop"], timeout=120)
    assert "SIGTERM received: saved" in out, out
    (ckpt,) = stop.glob("ember_logs/*/checkpoints/last.ckpt")
    assert ember.load(str(ckpt))["global_step"] == 7  # rank 0 got the signal; every rank stopped there
    again = tmp_path / "again"
    shutil.copytree(stop, again)
    rc, out, _ = run(["-n", "2", TRAINER, str(stop), "resume", "--ckpt", str(ckpt)], timeout=120)
    assert rc == 0, out
    w2, r2 = _weights(two), _weights(stop)
    for k in w2:
        assert np.array_equal(w2[k], r2[k]), k  # same number of processes: bit-identical
    (ckpt1,) = again.glob("ember_logs/*/checkpoints/last.ckpt")
    rc, out = _plain([TRAINER, str(again), "resume", "--ckpt", str(ckpt1), "--devices", "1"])
    assert rc == 0, out
    r1 = _weights(again)
    for k in w2:  # one process continuing a 2-rank run: the same weights up to float rounding
        assert np.abs(w2[k] - r1[k]).max() <= 1e-5 * max(np.abs(w2[k]).max(), 1e-30), k


@needs_mpi
def test_trainer_ddp_manual_optimization_averages_gradients(tmp_path):
    """automatic_optimization=False: each manual_backward averages over the ranks (two backward calls and
    clipping per step): 2 ranks give one process's weights with the same global batch."""
    script = os.path.join(SCRIPTS, "trainer_manual.py")
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    rc, out = _plain([script, str(one), "--devices", "1"])
    assert rc == 0 and "MANUAL DONE 0 step 8" in out, out
    rc, out, _ = run(["-n", "2", script, str(two)], timeout=120)
    assert rc == 0 and sorted(re.findall(r"MANUAL DONE (\d)", out)) == ["0", "1"], out
    w1, w2 = _weights(one), _weights(two)
    assert set(w1) == set(w2)
    for k in w1:
        assert np.abs(w1[k] - w2[k]).max() <= 1e-5 * max(np.abs(w1[k]).max(), 1e-30), k
