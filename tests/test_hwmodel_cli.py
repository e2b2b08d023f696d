"""The command line: subcommands, the format table, errors and exit codes."""

import json
import subprocess
import sys

import pytest

from hwmodel import cli
from rtl import formats as F
from rtl import scaling as S


def run(*args):
    return subprocess.run([sys.executable, "-m", "hwmodel.cli", *args], capture_output=True, text=True)


def test_help_lists_subcommands():
    out = run("--help")
    assert out.returncode == 0 and "formats" in out.stdout


def test_formats_table_has_every_format(capsys):
    assert cli.main(["formats"]) == 0
    text = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    for name in list(F.FORMATS) + list(S.MX_FORMATS):
        assert name in lines, name
    row = lines["float8_e4m3fn"]
    assert row[:9] == ["float8_e4m3fn", "float", "8", "4", "3", "7", "fn", "-448", "448"]
    assert row[-1] == "253"
    assert lines["float8_e2m5fnuz"][-1] == "255"


def test_formats_json_fields(capsys):
    assert cli.main(["formats", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert by_name["float8_e5m2"]["max"] == 57344 and by_name["float8_e5m2"]["min_subnormal"] == 2 ** -16
    assert by_name["int8_sym"]["min"] == -127 and by_name["int8"]["min"] == -128
    for r in rows:
        if r["kind"] != "mx":
            assert set(r) >= {"name", "bits", "exp_bits", "man_bits", "bias", "max", "min_normal",
                              "min_subnormal", "finite_values"}
    assert by_name["mxfp4_e2m1"]["bits_per_element"] == 4.25


def test_unknown_format_exits_2_with_suggestions():
    out = run("formats", "float8_e4m3f")
    assert out.returncode == 2
    assert "unknown format 'float8_e4m3f'" in out.stderr and "float8_e4m3fn" in out.stderr
    assert out.stdout == ""


def test_console_script_entry_point_is_main():
    from importlib.metadata import entry_points
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    if "hwmodel" not in scripts:
        pytest.skip("project not installed")
    assert scripts["hwmodel"] == "hwmodel.cli:main"
