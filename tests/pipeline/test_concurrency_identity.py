"""A run writes the same files whatever its concurrency (offline, through the real CLI)."""

from __future__ import annotations

from pathlib import Path

from tests.faults.conftest import apigen, cli_env, file_bytes


def test_files_are_byte_identical_at_any_concurrency(tmp_path: Path):
    # a short lag, so later slots do draw on earlier accepted blueprints as examples
    env = cli_env(tmp_path, APIGEN_MT_BLUEPRINT__EXAMPLE_LAG="2")
    runs = {}
    for c in ("3", "48"):
        out = tmp_path / f"c{c}"
        done = apigen("run", "--env", "retail", "--n", "12", "--concurrency", c,
                      "--out", str(out), "--quiet", env=env)
        assert done.returncode == 0, done.stderr
        runs[c] = file_bytes(out)
    assert runs["3"]["trajectories.jsonl"].count(b"\n") == 12
    assert runs["3"] == runs["48"]
