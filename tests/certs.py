"""Test certificates, made with the `openssl` command: two CAs, a server and two clients.

The server certificate names localhost, 127.0.0.1 and ::1. Every key is a P-256 EC key; every
certificate is valid for two days from now. From the command line:
`.venv/bin/python -m tests.certs FOLDER` makes them in FOLDER and prints their paths.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl") or "openssl"

_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = median test
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[client]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
"""


@dataclass(frozen=True)
class Certificates:
    """Paths of PEM files: `ca` signed `server` and `client`; `other_ca` signed `other_client`."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    other_client_cert: Path
    other_client_key: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, check=True, capture_output=True)


def _new_key_args(key: Path) -> list[str | Path]:
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key]


def _make_ca(directory: Path, name: str, config: Path) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", *_new_key_args(key), "-out", cert, "-days", "2",
        "-subj", f"/CN={name}", "-config", config, "-extensions", "ca",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def _make_signed(
    directory: Path, name: str, ca: tuple[Path, Path], kind: str, config: Path
) -> tuple[Path, Path]:
    cert, key, request = (directory / f"{name}.{ext}" for ext in ("pem", "key", "csr"))
    _openssl(
        "req", "-new", *_new_key_args(key), "-out", request, "-subj", f"/CN={name}",
        "-config", config,
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca[0], "-CAkey", ca[1],
        "-set_serial", f"0x{secrets.token_hex(8)}", "-days", "2", "-out", cert,
        "-extfile", config, "-extensions", kind,
        cwd=directory,
    )  # fmt: skip
    return cert, key


def make_certificates(directory: Path) -> Certificates:
    """Makes every file in `directory` (which must exist)."""
    directory = directory.resolve()  # openssl runs inside it, so relative paths would not do
    config = directory / "openssl.cnf"
    config.write_text(_CONFIG)
    ca = _make_ca(directory, "ca", config)
    other_ca = _make_ca(directory, "other-ca", config)
    server = _make_signed(directory, "server", ca, "server", config)
    client = _make_signed(directory, "client", ca, "client", config)
    other_client = _make_signed(directory, "other-client", other_ca, "client", config)
    return Certificates(
        ca=ca[0],
        server_cert=server[0],
        server_key=server[1],
        client_cert=client[0],
        client_key=client[1],
        other_ca=other_ca[0],
        other_client_cert=other_client[0],
        other_client_key=other_client[1],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.certs", description="Make test certificates in FOLDER."
    )
    parser.add_argument("folder", type=Path, help="where to write them (made if missing)")
    folder = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    certificates = make_certificates(folder)
    for name, path in vars(certificates).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
