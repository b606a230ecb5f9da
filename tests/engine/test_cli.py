"""python -m heapprof_nb run|stats|show, in real subprocesses."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from heapprof_nb._units import parse_bytes
from reference_decoder import read_log

SCRIPT = """
import sys
kept = [bytes(2000) for _ in range(5000)]
print("args", sys.argv[1:])
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heapprof_nb", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_run_profiles_a_script_and_keeps_its_exit_code(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    out = tmp_path / "out.hpnb"
    result = cli("run", "-o", str(out), "--rate", "1", "--", "script.py", "3", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "args ['3']" in result.stdout
    assert f"profile written to {out}" in result.stderr
    log = read_log(out)
    assert not log.truncated and log.header.mode == 2
    files = {log.strings[log.frames[f][0]] for f in log.frames}
    assert any(name.endswith("script.py") for name in files)


def test_show_summarises(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    out = tmp_path / "out.hpnb"
    assert cli("run", "-o", str(out), "--", "script.py", cwd=tmp_path).returncode == 0
    shown = cli("show", str(out), "--top", "3", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "peak" in shown.stdout and "script.py:3" in shown.stdout


def test_stats_prints_histogram(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    result = cli("stats", "--", "script.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "HEAP USAGE SUMMARY" in result.stderr and "2049 - 4096" in result.stderr
    advice = result.stderr.strip().splitlines()[-1]
    assert re.match(r"recommended: --rate \d+[KMG]iB\. Sampling every", advice), advice
    assert "within the 3% budget" in advice or "no candidate" in advice or "coarsest" in advice


def test_stats_budget_changes_the_recommendation(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    rates = []
    for budget in ("50%", "0.01%"):
        result = cli("stats", "--budget", budget, "--", "script.py", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        advice = result.stderr.strip().splitlines()[-1]
        rates.append(parse_bytes(re.search(r"--rate (\S+)\.", advice).group(1)))  # type: ignore[union-attr]
    assert rates[0] < rates[1]  # a larger budget affords a finer rate


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    for args, words in [
        (("run", "--rate", "fast", "--", "script.py"), "not a size"),
        (("run", "--sampling", "{1: 2}", "--", "script.py"), "(0, 1]"),
        (("run", "--", "missing.py"), "no such script"),
        (("run",), "give the script"),
        (("run", "--rate", "1", "--sampling", "{1: 0.5}", "--", "script.py"), "not allowed"),
        (("show", str(tmp_path / "nothing.hpnb")), "No such profile file"),
        (("show", str(tmp_path / "script.py")), "not a heapprof_nb log"),
        (("stats", "--budget", "lots", "--", "script.py"), "is not a percentage"),
        (("stats", "--budget", "0%", "--", "script.py"), "must be above 0%"),
    ]:
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_help() -> None:
    result = subprocess.run([sys.executable, "-m", "heapprof_nb", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "run" in result.stdout and "stats" in result.stdout
