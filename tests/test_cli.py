"""The command line's shape: one module per command under taskfair/cli, the console scripts
named in pyproject.toml, and ``taskfair methods`` reading the registry."""
import importlib
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from taskfair.cli import COMMANDS, console, main, parser

ROOT = Path(__file__).resolve().parent.parent


def test_every_command_is_a_module_with_its_parser_and_its_run():
    names = set(parser()._subparsers._group_actions[0].choices)
    modules = {m.__name__.rsplit(".", 1)[1] for m in COMMANDS}
    assert names == modules
    files = {p.stem for p in (ROOT / "taskfair" / "cli").glob("*.py")} - {"__init__", "options"}
    assert files == modules      # no command lives anywhere else
    for m in COMMANDS:
        assert callable(m.add_parser) and callable(m.run)


def test_the_console_scripts_point_at_real_entry_points(capsys):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"taskfair", "taskfair-precompute"}
    for target in scripts.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target
    argv, sys.argv = sys.argv, ["taskfair", "--help"]
    try:
        assert console() == 0      # --help: argparse prints and exits 0, caught by main
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert out.startswith("usage: taskfair ") and "recreate" in out and "methods" in out


def test_methods_lists_every_method_with_its_parameters(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "ties — TIES" in out and "grids.method_params.ties.density = 0.2 (in (0, 1])" in out
    assert "dare — DARE (draws random numbers: seeded by the run)" in out
    assert "grids.method_params.dare.drop_rate = 0.5 (in [0, 1))" in out
    assert "linear — linear mean" in out and "configuration linear:<λ>" in out


def test_the_installed_script_runs(tmp_path):
    """After ``pip install -e .`` (what ``make setup`` does) ``taskfair`` is a command."""
    try:
        metadata.distribution("taskfair")
    except metadata.PackageNotFoundError:
        pytest.skip("taskfair is not installed in this environment (make setup runs pip install -e .)")
    script = Path(sys.executable).parent / "taskfair"
    assert script.is_file(), f"taskfair is installed but {script} is missing: rerun pip install -e ."
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("usage: taskfair "), out.stderr
    out = subprocess.run([str(Path(sys.executable).parent / "taskfair-precompute"), "--help"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("usage: taskfair-precompute "), out.stderr
