"""A local certificate authority and HTTPS server for sandboxes that must be reached over TLS.

msal refuses http:// authorities, so the demo and the tests serve the Microsoft sandbox
over HTTPS with a certificate signed by a CA generated here; the hub trusts that CA
through HUB_CA_BUNDLE. Nothing here is meant for production traffic.
"""
from __future__ import annotations

import ipaddress
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from werkzeug.serving import BaseWSGIServer, make_server

VALIDITY = timedelta(days=30)
RENEW_BEFORE = timedelta(days=1)  # regenerate rather than serve a certificate about to expire
HOSTS = ("127.0.0.1", "localhost")


class TLSFiles(NamedTuple):
    """Where the server certificate, its key and the CA that signed it are stored (unpacks as a tuple)."""

    cert: Path
    key: Path
    ca: Path


def ensure_dev_certificate(directory: Path | str, now: datetime | None = None) -> TLSFiles:
    """A CA and a server certificate for 127.0.0.1 and localhost, reused while they are valid."""
    directory = Path(directory)
    files = TLSFiles(cert=directory / "server.pem", key=directory / "server-key.pem", ca=directory / "ca.pem")
    now = now or datetime.now(UTC)
    if _still_valid(files, now):
        return files
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Social Hub local sandbox CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])])
    names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(HOSTS[0])), x509.DNSName(HOSTS[1])]
    server_cert = (
        _builder(server_name, ca_name, server_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(files.key, server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()), private=True)
    _write(files.cert, server_cert.public_bytes(serialization.Encoding.PEM))
    _write(files.ca, ca_cert.public_bytes(serialization.Encoding.PEM))
    return files


def _builder(subject: x509.Name, issuer: x509.Name, public_key: Any, now: datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # tolerate a little clock skew
        .not_valid_after(now + VALIDITY)
    )


def _still_valid(files: TLSFiles, now: datetime) -> bool:
    if not (files.cert.is_file() and files.key.is_file() and files.ca.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):  # unreadable, or a CA that did not sign it: make a new pair
        return False
    return min(cert.not_valid_after_utc, ca.not_valid_after_utc) - now > RENEW_BEFORE


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def serve_tls(app: Any, host: str, port: int, cert: Path | str, key: Path | str) -> BaseWSGIServer:
    """Serve a WSGI app over HTTPS in a daemon thread; call .shutdown() on the result to stop it."""
    server = make_server(host, port, app, threaded=True, ssl_context=(str(cert), str(key)))
    thread = threading.Thread(target=server.serve_forever, name=f"tls-{host}:{server.server_port}", daemon=True)
    thread.start()
    return server
