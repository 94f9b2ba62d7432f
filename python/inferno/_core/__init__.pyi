"""
inferno compiled core (queueing models, REST-compatible JSON I/O, optimizer input, tuner, simulator, sizing)
"""
from __future__ import annotations
from . import queue
from . import io
from . import optimizer
from . import tuner
from . import sim
from . import sizing
from . import search
__all__: list[str] = ['io', 'optimizer', 'queue', 'search', 'sim', 'sizing', 'tuner']
