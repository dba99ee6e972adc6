"""`make test` runs every app's tests: a tests folder that pytest.ini's
``testpaths`` does not list would be silently skipped."""

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_tests_folder_is_collected():
    config = configparser.ConfigParser()
    config.read(ROOT / "pytest.ini")
    listed = set(config["pytest"]["testpaths"].split())
    with_tests = {p.parent.parent.name for p in ROOT.glob("*/tests/__init__.py")}
    assert with_tests - listed == set()
