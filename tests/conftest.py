"""Shared fixtures: the bundled sample fleet, and a folder copy of it to corrupt."""

from __future__ import annotations

import os
import shutil

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def sample_fleet():
    from partsforecast import load_sample

    return load_sample()


@pytest.fixture(scope="session")
def _sample_dir_master(tmp_path_factory, sample_fleet):
    path = tmp_path_factory.mktemp("sample") / "fleet"
    sample_fleet.to_dir(path)
    return path


@pytest.fixture
def sample_dir(tmp_path, _sample_dir_master):
    """A private, writable copy of the sample fleet as a folder of CSV files."""
    path = tmp_path / "fleet"
    shutil.copytree(_sample_dir_master, path)
    return path
