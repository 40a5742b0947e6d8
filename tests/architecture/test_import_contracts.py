"""The layering of issue 15, checked by import-linter: each contract of `[tool.importlinter]`
in pyproject.toml is one `lint-imports --contract ID` run on this checkout.

grimp (under import-linter) reads every `import` statement, those inside functions too: a lazy
import breaks a contract as a top-level one does (the last test shows it sees them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"]

def lint_imports(contract: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache",
               "--contract", contract]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, not an installed copy
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("contract", [c["id"] for c in CONTRACTS])
def test_contract_is_kept(contract: str) -> None:
    result = lint_imports(contract)
    assert "Contracts: 1 kept, 0 broken." in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0


def test_function_level_imports_are_in_the_graph() -> None:
    """`_state_hook` imports `LatestCache` inside the function only: grimp sees it."""
    sys.path.insert(0, str(ROOT))
    try:
        graph = grimp.build_graph("underdog_streaming", "underdog", cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))
    details = graph.get_import_details(importer="underdog_streaming.__main__",
                                       imported="underdog.store.online.cache")
    assert [d["line_contents"] for d in details] == [
        "from underdog.store.online.cache import LatestCache"]
