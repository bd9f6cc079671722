"""Every write tool of retail and airline (bookings included) appears among the accepted
blueprints of an offline run of 100, through the installed command."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from apigen_mt.env.domain import load_domain


@pytest.mark.parametrize("env", ["retail", "airline"])
def test_every_write_tool_appears_in_a_run_of_100(env: str, tmp_path: Path):
    exe = shutil.which("apigen-mt")
    if exe is None:
        pytest.skip("the apigen-mt command is not installed")
    out = tmp_path / "run"
    done = subprocess.run([exe, "blueprint", "--env", env, "--n", "100", "--out", str(out),
                           "--quiet"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    writes = {t.name for t in load_domain(env).tools
              if t.kind == "write" and not t.ends_conversation}
    used = {a["name"] for line in (out / "blueprints.jsonl").read_text().splitlines()
            for a in json.loads(line)["actions"]}
    assert writes and writes <= used, sorted(writes - used)
    if env == "airline":
        assert "book_reservation" in used
