"""The exception hierarchy (see the package docstring), from the native module.

The binding (``_atlas``) defines these types, since it is where a libatlas Status becomes an
exception. When the native module cannot be imported (a broken installation), equivalent Python
classes stand in, so that ``import atlas_observatory`` still works and an Observer degrades to a
no-op instead of breaking the training script.
"""

from __future__ import annotations

__all__ = [
    "NATIVE_IMPORT_ERROR",
    "AtlasError",
    "ConflictError",
    "InternalError",
    "InvalidArgumentError",
    "IoError",
    "NotFoundError",
    "UnavailableError",
]

NATIVE_IMPORT_ERROR: ImportError | None = None

try:
    from ._atlas import (
        AtlasError,
        ConflictError,
        InternalError,
        InvalidArgumentError,
        IoError,
        NotFoundError,
        UnavailableError,
    )
except ImportError as error:  # pragma: no cover - only a broken installation gets here
    NATIVE_IMPORT_ERROR = error

    class AtlasError(Exception):  # type: ignore[no-redef]
        code = "internal"

    class InvalidArgumentError(AtlasError, ValueError):  # type: ignore[no-redef]
        code = "invalid_argument"

    class NotFoundError(AtlasError, LookupError):  # type: ignore[no-redef]
        code = "not_found"

    class ConflictError(AtlasError):  # type: ignore[no-redef]
        code = "conflict"

    class UnavailableError(AtlasError):  # type: ignore[no-redef]
        code = "unavailable"

    class InternalError(AtlasError):  # type: ignore[no-redef]
        code = "internal"

    class IoError(AtlasError, OSError):  # type: ignore[no-redef]
        code = "io_error"
