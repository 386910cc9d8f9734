"""The benchmark registry and its runner; ``benchmarks/`` and ``fastspec bench`` both use it.

Importing this package registers the cases of every ``cases_*.py`` module beside this file.
"""

import importlib
import pkgutil

from .registry import CASES, Case, check_case, has_module, is_floor, register
from .runner import render_table, run, time_callable

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cases_")):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["CASES", "Case", "check_case", "has_module", "is_floor", "register", "render_table", "run",
           "time_callable"]
