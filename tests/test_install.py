"""A normal install (a wheel, not the editable checkout) carries conf/ and scenarios/ and runs
from any folder."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_runs_from_another_folder(tmp_path):
    wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True,
                   capture_output=True, timeout=300)
    (wheel,) = wheels.glob("zyd_sim-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True,
                   capture_output=True, timeout=300)
    # The wheel's sim shadows the editable checkout: PYTHONPATH comes before the editable finder.
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("SIM_SCENARIOS", None)

    def run(*args):
        return subprocess.run([sys.executable, *args], cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=300)

    p = run("-c", "import sim, sim.config.files as f; print(sim.__file__); print(f.conf_dir())")
    assert p.returncode == 0, p.stderr
    assert all(line.startswith(str(site)) for line in p.stdout.split()), p.stdout
    p = run("-m", "sim", "scenario=2:8", "--help")
    assert p.returncode == 0 and "hunan_3_7" in p.stdout and "flood" in p.stdout, p.stderr
    p = run("-m", "sim", "scenario=4321", "mc.replications=5", "firms.n=1000", "horizon=6",
            "quiet=true")
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Scenario 4321" in p.stdout
    (status,) = (elsewhere / "outputs").glob("*/*/status.json")
    assert '"complete"' in status.read_text()
