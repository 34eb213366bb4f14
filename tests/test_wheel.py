"""The built wheel carries templates/ and static/: install it apart and render every page."""

import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import requests

from servers import MlflowServer, ldap_config

REPO = Path(__file__).resolve().parent.parent
PAGES = {
    "/ldap-admin/": "Group mappings",
    "/ldap-admin/mappings/new?q=data": "data-science",
    "/ldap-admin/users?username=bob": "uid=bob,ou=people,dc=example,dc=org",
    "/ldap-admin/status": "Directory servers",
    "/ldap-admin/static/admin.css": "--accent",
}


def test_wheel_installs_and_serves_every_page(slapd, tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(wheels.glob("mlflow_ldap_auth-*.whl"))
    venv = Path(tempfile.mkdtemp(prefix="wheel-venv."))
    # A virtualenv without a pip of its own (ensurepip costs seconds of CPU): the test
    # environment's pip installs the wheel into it.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
        + [str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # Dependencies come from the test environment's site-packages (as plain paths, so the
    # source checkout's editable install stays invisible): only the wheel is under test.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    where = subprocess.run(
        [str(python), "-c", "import mlflow_ldap_auth, sys; print(mlflow_ldap_auth.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert where.startswith(str(venv)), where
    assert (venv / "share" / "mlflow-ldap-auth" / "templates" / "ldap_admin" / "base.html").exists()
    show_requires = "import importlib.metadata as m; print(m.requires('mlflow-ldap-auth'))"
    requires = subprocess.run(
        [str(python), "-c", show_requires],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # docs/reference/metrics.md: `--expose-prometheus` works after a plain install (MLflow lists the
    # exporter only among its extras).
    assert "prometheus-flask-exporter" in requires, requires

    mlflow_command = venv / "bin" / "mlflow"
    mlflow_command.write_text(
        f"#!{python}\nimport sys\nfrom mlflow.cli import cli\nsys.exit(cli())\n"
    )
    mlflow_command.chmod(0o755)
    server = MlflowServer(ldap_config(tmp_path, slapd.ldap_uri))
    server.command = lambda original=server.command: [str(mlflow_command), *original()[1:]]
    with server:
        for path, expected in PAGES.items():
            response = requests.get(server.url + path, auth=("carol", "carol-password"), timeout=30)
            assert response.status_code == 200, (path, response.text[:300])
            assert expected in response.text, path
