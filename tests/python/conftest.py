"""pytest picks up the fixtures of obs_fixtures.py (kept there so that mypy checks them: mypy
cannot tell this conftest module from tests/integration's, so it skips both names)."""

from obs_fixtures import (  # noqa: F401 - fixtures and hooks are used by name
    atlasd,
    contained_errors_fail_the_test,
    pytest_configure,
    spool_dir,
)
