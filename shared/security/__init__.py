"""Who may speak for whom: signing keys, the trust list, signed events and the entitlement table."""

from shared.security.entitlements import ENTITLEMENTS, entitlement_error, principal_of_source
from shared.security.keys import SigningKey, create_key_file, load_key_file, load_or_create_key
from shared.security.signing import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    Refused,
    Signer,
    Verifier,
)
from shared.security.trust import (
    TrustedKey,
    TrustList,
    TrustStore,
    load_trust_list,
    trust_list_document,
    trusted_jwk,
    write_trust_list,
)

__all__ = [
    "ENTITLEMENTS",
    "KEY_ID_HEADER",
    "SIGNATURE_HEADER",
    "Refused",
    "Signer",
    "SigningKey",
    "TrustList",
    "TrustStore",
    "TrustedKey",
    "Verifier",
    "create_key_file",
    "entitlement_error",
    "load_key_file",
    "load_or_create_key",
    "load_trust_list",
    "principal_of_source",
    "trust_list_document",
    "trusted_jwk",
    "write_trust_list",
]
