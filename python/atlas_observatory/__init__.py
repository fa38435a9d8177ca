"""atlas_observatory: the Atlas Observer, streaming PyTorch training telemetry to atlasd.

    from atlas_observatory import Observer, ObserverConfig

The public surface is ``__all__``. Exceptions (only ``sync`` and the low-level ``_atlas`` module
raise them; the Observer contains every error):

    AtlasError                   a libatlas operation failed; ``code`` names its status
    ├── InvalidArgumentError     (also a ValueError) the input is wrong
    ├── NotFoundError            (also a LookupError) no such spool file or directory
    ├── ConflictError            the request contradicts stored state
    ├── UnavailableError         transient: the server is unreachable or timed out; retry
    ├── InternalError            a bug or an unexpected failure of a dependency
    └── IoError                  (also an OSError) the disk failed
"""

from __future__ import annotations

__version__ = "0.1.0"

from .config import ObserverConfig
from .containment import CapturedError, drain_captured
from .control import TrainingStopped
from .errors import (
    AtlasError,
    ConflictError,
    InternalError,
    InvalidArgumentError,
    IoError,
    NotFoundError,
    UnavailableError,
)
from .observer import Observer, StepTracker, default_loss
from .sync import default_spool_dir, spool_files, sync

__all__ = [
    "AtlasError",
    "CapturedError",
    "ConflictError",
    "InternalError",
    "InvalidArgumentError",
    "IoError",
    "NotFoundError",
    "Observer",
    "ObserverConfig",
    "StepTracker",
    "TrainingStopped",
    "UnavailableError",
    "__version__",
    "default_loss",
    "default_spool_dir",
    "drain_captured",
    "spool_files",
    "sync",
]
