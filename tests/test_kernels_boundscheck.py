"""The kernels' edge grid (tests/boundscheck_grid.py) under NUMBA_BOUNDSCHECK=1, in a fresh process.

Every kernel is compiled afresh with bounds checks (a private cache folder), so an out-of-bounds
access anywhere in the grid's 12,000 calls raises IndexError instead of reading or writing
memory it does not own. About a minute, most of it compiling.
"""

import os
import pathlib
import subprocess
import sys


def test_edge_grid_has_no_out_of_bounds_access(tmp_path):
    script = pathlib.Path(__file__).with_name("boundscheck_grid.py")
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    env.pop("NUMBA_DISABLE_JIT", None)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no out-of-bounds access" in done.stdout
