"""Fixtures of the upstream tests that more than one module uses."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A test CA, and a certificate for localhost it signed with its key: (CA, certificate, key)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make the test's TLS certificates")
    folder = tmp_path_factory.mktemp("tls")
    ca, ca_key, cert, key, request = (
        folder / name for name in ("ca.pem", "ca.key", "cert.pem", "key.pem", "csr")
    )
    (folder / "ext").write_text("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for command in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=test-ca"],
        ["req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert]
        + ["-days", "1", "-extfile", folder / "ext"],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca, cert, key
