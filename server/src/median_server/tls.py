"""TLS for the server: read and check the certificate, key and client CA files once, at start.

gRPC would accept a key that does not belong to its certificate and fail every handshake later;
the files are therefore checked here with the standard `ssl` module first, so that a mistake
stops the server at start with a message naming the file.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc


class TlsSetupError(Exception):
    """A TLS file cannot be used; the message names the flag, the file and the reason."""


class _EncryptedKeyError(Exception):
    pass


def _ask_no_password() -> str:
    # Called by OpenSSL only for an encrypted key; without it OpenSSL would prompt on the tty.
    raise _EncryptedKeyError


@dataclass(frozen=True)
class TlsFiles:
    """The PEM contents of the server's TLS files."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None  # set: clients must present a certificate that this CA signed

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


def _read(flag: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise TlsSetupError(f"{flag} {path}: cannot read the file: {reason}") from None


def _check_certificates(flag: str, path: str, data: bytes) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=data.decode("ascii"))
    except (UnicodeDecodeError, ssl.SSLError):
        raise TlsSetupError(
            f"{flag} {path}: holds no PEM certificate (a block that starts with "
            "-----BEGIN CERTIFICATE-----)"
        ) from None


def load_tls_files(cert_path: str, key_path: str, client_ca_path: str | None = None) -> TlsFiles:
    """Reads and checks the files of --tls-cert, --tls-key and --tls-client-ca."""
    certificate_chain = _read("--tls-cert", cert_path)
    private_key = _read("--tls-key", key_path)
    _check_certificates("--tls-cert", cert_path, certificate_chain)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path, password=_ask_no_password)
    except _EncryptedKeyError:
        raise TlsSetupError(
            f"--tls-key {key_path}: the key is encrypted with a passphrase; give an unencrypted "
            "PEM key (openssl pkey -in KEY -out PLAIN_KEY), readable by the server only"
        ) from None
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise TlsSetupError(
                f"--tls-key {key_path}: the key does not belong to the certificate in "
                f"--tls-cert {cert_path}; give the key the certificate was made for"
            ) from None
        raise TlsSetupError(
            f"--tls-key {key_path}: holds no usable PEM private key (a block that starts with "
            "-----BEGIN PRIVATE KEY----- or similar) for the certificate in --tls-cert "
            f"{cert_path}"
        ) from None
    except OSError as error:  # the file went away between the two reads
        raise TlsSetupError(f"--tls-key {key_path}: cannot read the file: {error}") from None
    client_ca = None
    if client_ca_path:
        client_ca = _read("--tls-client-ca", client_ca_path)
        _check_certificates("--tls-client-ca", client_ca_path, client_ca)
    return TlsFiles(certificate_chain, private_key, client_ca)
