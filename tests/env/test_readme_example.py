"""The README's custom environment runs as printed."""

from __future__ import annotations

import re

from tests.conftest import REPO
from tests.pipeline.conftest import cli


def test_readme_custom_environment_runs_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("APIGEN_MT_RUNS", str(tmp_path / "runs"))
    readme = (REPO / "README.md").read_text()
    code = re.search(r"<!-- custom-env-example -->\n```python\n(.*?)```", readme, re.DOTALL)
    assert code, "the README lost its custom environment example"
    folder = tmp_path / "library"
    folder.mkdir()
    (folder / "__init__.py").write_text(code.group(1))
    (folder / "policy.md").write_text("Members may renew a loan at most twice.\n")
    assert len(code.group(1).splitlines()) <= 50
    out = cli("run", "--env", str(folder), "--n", "10", "--out", str(tmp_path / "run"),
              "--quiet")
    assert "10 trajectories accepted" in " ".join(out.split())
