"""The rooms and the one-way imports between them, read from the sources."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _sources(package: str):
    return sorted((ROOT / package).rglob("*.py"))


def test_imports_go_one_way():
    for package, forbidden in (("rtl", ("hwmodel", "workloads")), ("workloads", ("hwmodel",))):
        for path in _sources(package):
            bad = [m for m in _imports(path) if m.split(".")[0] in forbidden]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_only_the_hdl_and_the_flow_know_amaranth():
    allowed = (ROOT / "rtl" / "hdl", ROOT / "rtl" / "flow")
    for package in ("rtl", "workloads", "hwmodel"):
        for path in _sources(package):
            if any(a in path.parents for a in allowed):
                continue
            bad = [m for m in _imports(path) if m.split(".")[0] == "amaranth"]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_numerics_need_only_numpy():
    for path in _sources("rtl/numerics"):
        for module in _imports(path):
            top = module.split(".")[0]
            assert top in STDLIB or top == "numpy" or module.startswith(("rtl.numerics", "rtl.errors")), \
                f"{path.relative_to(ROOT)} imports {module}"


def test_only_the_cli_parses_arguments():
    for package in ("rtl", "workloads", "hwmodel"):
        for path in _sources(package):
            if (ROOT / "hwmodel" / "cli") in path.parents:
                continue
            assert "argparse" not in _imports(path), f"{path.relative_to(ROOT)} parses command lines"
