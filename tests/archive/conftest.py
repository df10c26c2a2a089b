"""Fixtures for the archive tests: the Java checker, compiled once per session.

``ZipCheck.java`` sits beside this file; it is compiled into a session
temporary directory on first use (one compile per xdist worker).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from .support import UTF8_ENV, require_tool

JAVA_SOURCE = Path(__file__).with_name("ZipCheck.java")


@dataclass(frozen=True)
class JavaCheck:
    """How to run the compiled ZipCheck program."""

    java: str
    classpath: Path

    def command(self, *args: str) -> list[str]:
        return [self.java, "-cp", str(self.classpath), "ZipCheck", *args]


@pytest.fixture(scope="session")
def java_check(tmp_path_factory: pytest.TempPathFactory) -> JavaCheck:
    javac = require_tool("javac")
    java = require_tool("java")
    out = tmp_path_factory.mktemp("zipcheck")
    proc = subprocess.run(
        [javac, "-encoding", "UTF-8", "-d", str(out), str(JAVA_SOURCE)],
        capture_output=True,
        text=True,
        env=UTF8_ENV,
    )
    assert proc.returncode == 0, f"javac failed:\n{proc.stdout}\n{proc.stderr}"
    return JavaCheck(java, out)
