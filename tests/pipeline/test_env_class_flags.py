"""`--env-class/--env-config/--env-init` turn a plain Python class into a verified run."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO
from tests.pipeline.conftest import cli


def test_a_class_environment_yields_verified_trajectories(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = cli("run", "--env-class", "tests.fixtures.classes.messaging:MessagingService",
              "--env-config", "tests/fixtures/classes/messaging_init.json", "--n", "8",
              "--out", str(tmp_path / "run"), "--quiet")
    assert "8 trajectories accepted" in " ".join(out.split())


def test_env_flags_must_not_be_mixed(tmp_path):
    for args, words in ((["run", "--env", "retail", "--env-class", "a.b:C"], "not both"),
                        (["blueprint", "--env", "retail", "--env-config", "x.json"],
                         "go with --env-class")):
        done = subprocess.run([sys.executable, "-m", "apigen_mt", *args, "--out",
                               str(tmp_path / "x")], capture_output=True, text=True)
        assert done.returncode == 2 and words in done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "x").exists()
