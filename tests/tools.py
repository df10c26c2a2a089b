"""Finding the independent ZIP readers the tests check archives with.

``make test`` installs them (Debian packages 7zip, libarchive-tools, unzip, a
JDK). Under CI a missing tool fails the test: a reader that silently did not
run proves nothing. On a developer machine it skips, with the reason.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """The tool's path; fail under CI=true, skip elsewhere, when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (make tools installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
