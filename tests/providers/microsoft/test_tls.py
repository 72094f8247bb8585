"""hub.demo.tls: the local CA and HTTPS server the Microsoft sandbox is served with."""
from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cryptography import x509

from hub.demo import tls


def test_certificate_names_loopback_and_is_reused_until_it_nears_expiry(tmp_path: Path) -> None:
    files = tls.ensure_dev_certificate(tmp_path)
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(files.ca.read_bytes()))
    assert files.key.stat().st_mode & 0o077 == 0
    first = files.cert.read_bytes()
    assert tls.ensure_dev_certificate(tmp_path).cert.read_bytes() == first
    later = datetime.now(UTC) + tls.VALIDITY - timedelta(hours=1)
    assert tls.ensure_dev_certificate(tmp_path, now=later).cert.read_bytes() != first


def test_a_ca_beside_the_certificate_that_did_not_sign_it_is_replaced_with_a_new_pair(tmp_path: Path) -> None:
    files = tls.ensure_dev_certificate(tmp_path / "instance")
    other = tls.ensure_dev_certificate(tmp_path / "other")  # the same CA name, another key
    files.ca.write_bytes(other.ca.read_bytes())  # e.g. a CA file left from another run
    renewed = tls.ensure_dev_certificate(tmp_path / "instance")
    cert = x509.load_pem_x509_certificate(renewed.cert.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(renewed.ca.read_bytes()))
    assert renewed.ca.read_bytes() != other.ca.read_bytes()


def test_serve_tls_is_trusted_only_through_the_generated_ca(tmp_path: Path) -> None:
    cert, key, ca = tls.ensure_dev_certificate(tmp_path)

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"over tls"]

    server = tls.serve_tls(app, "127.0.0.1", 0, cert, key)
    http = requests.Session()
    http.trust_env = False
    try:
        url = f"https://127.0.0.1:{server.server_port}/"
        assert http.get(url, verify=str(ca), timeout=5).text == "over tls"
        with pytest.raises(requests.exceptions.SSLError):
            http.get(url, verify=True, timeout=5)
    finally:
        server.shutdown()
