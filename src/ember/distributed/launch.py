"""``ember run``: start a script on N processes under MPI (torchrun's role, on the MPICH wheel's mpiexec).

    ember run -n 4 train.py --lr 0.1           # 4 processes on this machine
    ember run -n 16 --hostfile hosts train.py  # several machines (hydra's host file: "host:slots" lines)
    ember run -n 2 -m mypkg.train              # a module, as python -m

Every rank gets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (after ``init_process_group``) and, unless
set already, ``OMP_NUM_THREADS=1`` so N processes do not oversubscribe the cores with BLAS threads.
SIGTERM/SIGINT to ``ember run`` go to every rank (mpiexec forwards them); the exit status is mpiexec's.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys

__all__ = ["find_mpiexec", "build_command", "main"]

_USAGE = "ember run [-n N] [--hostfile FILE] [--ppn K] [--mpiexec PATH] [--mpi-arg ARG ...] (script.py | -m module) [args ...]"


def find_mpiexec(explicit=None) -> str:
    """The ``mpiexec`` to use: ``explicit``, ``$EMBER_MPIEXEC``, the one next to this Python (the MPICH
    wheel installs it in the environment's bin/), then the first on PATH."""
    for cand in (explicit, os.environ.get("EMBER_MPIEXEC")):
        if cand:
            return cand
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.exists(here):
        return here
    found = shutil.which("mpiexec")
    if found:
        return found
    raise FileNotFoundError(
        "ember run: no mpiexec found (looked next to this Python and on PATH). "
        "Install MPI with `pip install ember[mpi]` (mpi4py and the MPICH wheel), or pass --mpiexec PATH."
    )


def _parser():
    p = argparse.ArgumentParser(prog="ember run", usage=_USAGE,
                                description="Run a script on N processes under MPI (see docs/distributed.md).")
    p.add_argument("-n", "--nproc", "--np", type=int, default=1, help="total number of processes (default 1)")
    p.add_argument("--hostfile", "-f", help="hydra host file for several machines (lines 'host:slots')")
    p.add_argument("--ppn", type=int, help="processes per node (with --hostfile)")
    p.add_argument("--mpiexec", help="the mpiexec to use (default: the one of this environment)")
    p.add_argument("--mpi-arg", action="append", default=[], help="one extra argument for mpiexec (repeatable)")
    p.add_argument("-m", dest="module", help="run a module (python -m MODULE) instead of a script")
    p.add_argument("script", nargs="?", help="the script to run, followed by its arguments")
    return p


_WITH_VALUE = {"-n", "--nproc", "--np", "--hostfile", "-f", "--ppn", "--mpiexec", "--mpi-arg"}


def _split(argv):
    """(launcher options, target, target arguments): everything after the script (or -m MODULE)
    belongs to the script, even options that look like ours."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-m":
            if i + 1 >= len(argv):
                return argv, None, []
            return argv[:i], ("-m", argv[i + 1]), argv[i + 2:]
        if a in _WITH_VALUE:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        return argv[:i], ("script", a), argv[i + 1:]
    return argv, None, []


def build_command(argv, python=None):
    """(command list, environment additions) that ``ember run argv`` executes."""
    p = _parser()
    opts, target, rest = _split(list(argv))
    ns = p.parse_args(opts)
    if target is None:
        p.error("give a script to run (or -m module)")
    if ns.nproc < 1:
        p.error(f"-n must be >= 1, got {ns.nproc}")
    if ns.hostfile is not None and not os.path.exists(ns.hostfile):
        p.error(f"--hostfile {ns.hostfile!r} does not exist")
    cmd = [find_mpiexec(ns.mpiexec), "-n", str(ns.nproc)]
    if ns.hostfile is not None:
        cmd += ["-f", ns.hostfile]
    if ns.ppn is not None:
        cmd += ["-ppn", str(ns.ppn)]
    cmd += list(ns.mpi_arg)
    cmd.append(python or sys.executable)
    cmd += (["-m", target[1]] if target[0] == "-m" else [target[1]]) + list(rest)
    env = {"EMBER_LAUNCHED": "1"}
    if "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = "1"
    return cmd, env


def run_command(cmd, env_add) -> int:
    """Run ``cmd`` (mpiexec ...) and forward SIGTERM/SIGINT to it; returns its exit status."""
    env = dict(os.environ)
    env.update(env_add)
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum, frame):
        try:
            proc.send_signal(signum)
        except ProcessLookupError:  # pragma: no cover - already gone
            pass

    old = {}
    for s in (signal.SIGTERM, signal.SIGINT):
        try:
            old[s] = signal.signal(s, forward)
        except ValueError:  # pragma: no cover - not the main thread
            pass
    try:
        while True:
            try:
                rc = proc.wait()
                break
            except KeyboardInterrupt:  # pragma: no cover
                continue
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return rc if rc >= 0 else 128 - rc


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        cmd, env = build_command(argv)
    except FileNotFoundError as e:
        print(str(e), file=sys.stderr)
        return 2
    return run_command(cmd, env)
