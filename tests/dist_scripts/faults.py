"""Fault scenarios, run under ``ember run -n 2 faults.py MODE``:

* ``raise``   rank 1 raises after 0.3 s while rank 0 waits in a collective;
* ``kill``    rank 1 kills itself with SIGKILL while rank 0 waits;
* ``sigterm`` both ranks train steps under SigtermGuard; the test sends SIGTERM to the launcher;
* ``debug``   rank 1 calls a collective with another shape (EMBER_DISTRIBUTED_DEBUG=1).
"""
import os
import signal
import sys
import time

import ember
import ember.distributed as dist

mode = sys.argv[1]
dist.init_process_group()
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
    dist.all_reduce(ember.ones(3 if r == 1 else 2))
