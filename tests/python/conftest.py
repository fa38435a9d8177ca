"""pytest picks up the fixtures of obs_fixtures.py (kept there so that mypy checks them: mypy
cannot tell this conftest module from tests/integration's, so it skips both names)."""

import pytest

try:
    import atlas_observatory  # noqa: F401 - the suite tests the installed package
except ImportError as error:  # pragma: no cover - a set-up problem, not a test failure
    pytest.exit(f"atlas_observatory is not installed ({error}): run scripts/install_python.sh")

from obs_fixtures import (  # noqa: F401 - fixtures and hooks are used by name
    atlasd,
    contained_errors_fail_the_test,
    pytest_configure,
    spool_dir,
)
