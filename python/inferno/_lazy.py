"""numpy and pandas, imported on first use.

``import inferno`` and the command line load neither until a value needs them: a CLI command that
prints JSON, or a script that only asks the queue model for numbers, does not pay the few hundred
milliseconds that importing pandas takes (tables are still printed from DataFrames;
docs/development.md, "Start-up"). Modules write ``from ._lazy import np, pd`` and use ``np.`` and ``pd.`` as usual;
type checkers see the real modules.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any


class _OnFirstUse(types.ModuleType):
    """Stands for a module until one of its attributes is read; then imports it (the import
    system's own lock makes that safe from several threads) and takes over its namespace, so later
    reads are plain attribute lookups."""

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = _OnFirstUse("numpy")
    pd = _OnFirstUse("pandas")

__all__ = ["np", "pd"]
