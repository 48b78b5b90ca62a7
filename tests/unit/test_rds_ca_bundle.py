"""The RDS CA bundle every function package carries (``lib/lambda/dr_common/rds-ca-us-east-1-bundle.pem``,
named by ``DB_CA_BUNDLE``): it must hold only Amazon RDS certificate authorities that are valid
today, or every TLS login to Aurora fails (or, worse, trusts something else). Where it comes from
and its SHA-256: docs/SECURITY.md, "TLS to Aurora"."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from lib.build import lambda_bundle

BUNDLE = lambda_bundle.SHARED_PACKAGE.parent / lambda_bundle.RDS_CA_BUNDLE
REGION_ROOTS = {f"Amazon RDS us-east-1 Root CA {kind} G1" for kind in ("RSA2048", "RSA4096", "ECC384")}


def certificates() -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(BUNDLE.read_bytes())


def names(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(oid)]


def test_every_certificate_is_an_amazon_rds_ca_valid_now() -> None:
    now = datetime.now(UTC)
    found = certificates()

    assert found, "the bundle holds no certificate"
    for certificate in found:
        subject = certificate.subject.rfc4514_string()
        assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca, subject
        assert names(certificate.issuer, NameOID.ORGANIZATIONAL_UNIT_NAME) == ["Amazon RDS"], subject
        assert names(certificate.issuer, NameOID.ORGANIZATION_NAME) == ["Amazon Web Services, Inc."], subject
        assert names(certificate.issuer, NameOID.COMMON_NAME)[0].startswith("Amazon RDS "), subject
        assert certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc, subject
    assert {names(c.subject, NameOID.COMMON_NAME)[0] for c in found} == REGION_ROOTS


def test_the_roots_are_self_signed() -> None:
    """A damaged copy (one changed character) fails here rather than at the first login."""
    for certificate in certificates():
        certificate.verify_directly_issued_by(certificate)


def test_the_bundle_is_the_one_the_security_page_names() -> None:
    digest = hashlib.sha256(BUNDLE.read_bytes()).hexdigest()
    page = (lambda_bundle.SHARED_PACKAGE.parents[2] / "docs" / "SECURITY.md").read_text()

    assert digest in page, f"docs/SECURITY.md does not record the bundle's SHA-256 {digest}"
