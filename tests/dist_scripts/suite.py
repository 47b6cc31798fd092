"""``mpiexec -n 3 python suite.py``: collectives.py, then ddp_checks.py, in one MPI job (one start-up)."""
import os
import runpy

here = os.path.dirname(os.path.abspath(__file__))
runpy.run_path(os.path.join(here, "collectives.py"), run_name="__main__")
runpy.run_path(os.path.join(here, "ddp_checks.py"), run_name="__main__")
