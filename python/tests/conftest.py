import os
import shutil
import subprocess

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(42)


def _cli():
    path = os.environ.get("UNIDB_CLI") or shutil.which("unidb")
    return path


@pytest.fixture
def cli():
    """Runs the `unidb` command (UNIDB_CLI or on PATH) and returns its stdout."""
    path = _cli()
    if path is None:
        pytest.skip("the unidb command is not built (set UNIDB_CLI)")

    def run(*args):
        out = subprocess.run([path, *map(str, args)], check=True, capture_output=True, text=True)
        return out.stdout

    return run
