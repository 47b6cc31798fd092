"""Fault scenarios, run under ``ember run -n 2 faults.py MODE``:

* ``raise``   rank 1 raises after 0.3 s while rank 0 waits in a collective;
* ``kill``    rank 1 kills itself with SIGKILL while rank 0 waits;
* ``sigterm`` both ranks train steps under SigtermGuard; the test sends SIGTERM to the launcher;
* ``debug``   rank 1 calls another collective (caught: the error is raised on every rank), then a
              collective with another shape (EMBER_DISTRIBUTED_DEBUG=1);
* ``raise_in_backward`` / ``kill_in_backward``: rank 1 raises / is killed inside a DDP backward while
              rank 0 waits for its gradients in the shared-memory reducer (not in an MPI call);
* ``stuck``   rank 1 sleeps instead of its backward; init_process_group(timeout=2 s) ends rank 0's wait.
"""
import datetime
import os
import signal
import sys
import time

import ember
import ember.distributed as dist

mode = sys.argv[1]
dist.init_process_group(timeout=datetime.timedelta(seconds=2) if mode == "stuck" else None)
r = dist.get_rank()
print(f"READY {r}", flush=True)
if mode == "raise":
    if r == 1:
        time.sleep(0.3)
        print(f"FAULT_AT {time.time()}", flush=True)
        raise ValueError("boom on purpose")
    dist.barrier()
elif mode == "kill":
    if r == 1:
        time.sleep(0.3)
        print(f"FAULT_AT {time.time()}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()
elif mode == "sigterm":
    with dist.SigtermGuard() as guard:
        for step in range(1000):
            t = ember.ones(4)
            dist.all_reduce(t)
            time.sleep(0.05)  # "the step"
            if step == 3:
                print(f"STEPPING {r}", flush=True)
            if guard.should_stop():
                print(f"STOPPED {r} at step {step}, received={guard.received}", flush=True)
                break
    dist.barrier()
    print(f"EXIT {r}", flush=True)
elif mode == "debug":
    try:
        if r == 1:
            dist.broadcast(ember.ones(2), src=0)
        else:
            dist.all_reduce(ember.ones(2))
    except RuntimeError as e:
        print(f"CAUGHT {r}: {e}", flush=True)
    dist.all_reduce(ember.ones(3 if r == 1 else 2))
elif mode in ("raise_in_backward", "kill_in_backward"):
    import ember.nn as nn
    from ember.nn.parallel import DistributedDataParallel as DDP

    ember.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    ddp = DDP(net, bucket_cap_mb=1e-5)  # one bucket per parameter: the last layer's go out first
    ddp(ember.ones(3, 4)).sum().backward()  # one good step

    def fail(g):
        print(f"FAULT_AT {time.time()}", flush=True)
        if mode == "raise_in_backward":
            raise ValueError("boom in backward")
        os.kill(os.getpid(), signal.SIGKILL)

    if r == 1:
        time.sleep(0.3)
        net[0].weight.register_hook(fail)
    ddp(ember.ones(3, 4)).sum().backward()
    print(f"UNEXPECTED {r}", flush=True)
elif mode == "stuck":
    import ember.nn as nn
    from ember.nn.parallel import DistributedDataParallel as DDP

    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    ddp = DDP(net)
    ddp(ember.ones(3, 4)).sum().backward()  # one good step
    if r == 1:  # stuck before its backward: rank 0 waits in the shared-memory reducer, 2 s at most
        print(f"FAULT_AT {time.time()}", flush=True)
        time.sleep(120)
    ddp(ember.ones(3, 4)).sum().backward()
    print(f"UNEXPECTED {r}", flush=True)
