//! TLS: the server certificate (generated at start or loaded from PEM files), ALPN and the
//! optional client-certificate requirement.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::TargetError;

/// Names the generated certificate is valid for.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// ALPN protocol id of HTTP/2.
pub(crate) const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1.
pub(crate) const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Where the server certificate of a TLS target comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSetup {
    /// Generate a fresh certificate authority and a server certificate signed by it at start.
    /// The server certificate is valid for `localhost`, `127.0.0.1` and `::1`
    /// ([`SELF_SIGNED_NAMES`]). Clients trust it through the CA certificate that
    /// [`TargetHandle::certificate_pem`](crate::TargetHandle::certificate_pem) returns.
    SelfSigned,
    /// Load the certificate chain and private key from PEM files.
    Files {
        /// The server certificate chain (leaf first), PEM.
        cert: PathBuf,
        /// The private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1), PEM.
        key: PathBuf,
    },
}

/// A ready TLS acceptor and the PEM a client should trust.
pub(crate) struct TlsServer {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) trust_pem: String,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer").finish_non_exhaustive()
    }
}

fn tls_err(msg: impl Into<String>) -> TargetError {
    TargetError::Tls(msg.into())
}

/// Builds the server side of TLS: certificate, ALPN (`h2` when `http2`, then `http/1.1`),
/// session tickets, and client authentication when `client_ca` is given.
pub(crate) fn build(
    setup: &TlsSetup,
    client_ca: Option<&Path>,
    http2: bool,
) -> Result<TlsServer, TargetError> {
    let (chain, key, trust_pem) = match setup {
        TlsSetup::SelfSigned => self_signed()?,
        TlsSetup::Files { cert, key } => load_files(cert, key)?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(format!("protocol versions: {e}")))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls_err(format!("certificate and key do not fit together: {e}")))?;
    config.alpn_protocols = if http2 {
        vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()]
    } else {
        vec![ALPN_HTTP11.to_vec()]
    };
    // Stateless tickets: resumption works for any number of clients without a server cache.
    config.ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|e| tls_err(format!("session tickets: {e}")))?;
    Ok(TlsServer {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        trust_pem,
    })
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String);

/// A fresh CA and a server certificate for [`SELF_SIGNED_NAMES`] signed by it.
fn self_signed() -> Result<Identity, TargetError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let gen_err = |e: rcgen::Error| tls_err(format!("cannot generate a certificate: {e}"));
    // Validity from the start of last year to the start of next year: under the 825 days that
    // some clients (Apple's) accept for server certificates.
    let year = current_year();
    let (not_before, not_after) = (
        rcgen::date_time_ymd(year - 1, 1, 1),
        rcgen::date_time_ymd(year + 1, 1, 1),
    );

    let ca_key = KeyPair::generate().map_err(gen_err)?;
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut ca_name = DistinguishedName::new();
    // A name of its own, so that clients trusting CAs of several targets tell them apart.
    ca_name.push(
        DnType::CommonName,
        format!("stampede target CA {:016x}", fastrand::u64(..)),
    );
    ca_params.distinguished_name = ca_name;
    let ca = ca_params.self_signed(&ca_key).map_err(gen_err)?;

    let leaf_key = KeyPair::generate().map_err(gen_err)?;
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|&n| n.to_owned()).collect();
    let mut leaf_params = CertificateParams::new(names).map_err(gen_err)?;
    let mut leaf_name = DistinguishedName::new();
    leaf_name.push(DnType::CommonName, "localhost");
    leaf_params.distinguished_name = leaf_name;
    leaf_params.not_before = not_before;
    leaf_params.not_after = not_after;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .map_err(gen_err)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    Ok((vec![leaf.der().clone()], key, ca.pem()))
}

/// The current calendar year (UTC), close enough for certificate validity.
fn current_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // 31_556_952 s is the mean Gregorian year; the error stays far below a day for centuries.
    1970 + i32::try_from(secs / 31_556_952).unwrap_or(0)
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, TargetError> {
    std::fs::read(path).map_err(|e| tls_err(format!("cannot read {what} {}: {e}", path.display())))
}

/// Reads every certificate of a PEM file; an empty file is an error.
fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, TargetError> {
    let pem = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(format!("{what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(tls_err(format!(
            "{what} {}: no CERTIFICATE block found",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_files(cert: &Path, key: &Path) -> Result<Identity, TargetError> {
    let chain = certificates(cert, "certificate file")?;
    let trust_pem = String::from_utf8_lossy(&read(cert, "certificate file")?).into_owned();
    let key_pem = read(key, "key file")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| tls_err(format!("key file {}: {e}", key.display())))?;
    Ok((chain, key, trust_pem))
}

fn client_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TargetError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, "client CA file")? {
        roots
            .add(cert)
            .map_err(|e| tls_err(format!("client CA file {}: {e}", path.display())))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| tls_err(format!("client CA file {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_builds_with_and_without_h2() {
        let with = build(&TlsSetup::SelfSigned, None, true).unwrap();
        assert!(with.trust_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let cfg = with.acceptor.config();
        assert_eq!(cfg.alpn_protocols, [ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()]);
        let without = build(&TlsSetup::SelfSigned, None, false).unwrap();
        assert_eq!(without.acceptor.config().alpn_protocols, [ALPN_HTTP11]);
        // Every start makes a new CA.
        assert_ne!(with.trust_pem, without.trust_pem);
    }

    #[test]
    fn missing_files_are_named() {
        let setup = TlsSetup::Files {
            cert: PathBuf::from("/nonexistent/cert.pem"),
            key: PathBuf::from("/nonexistent/key.pem"),
        };
        let e = build(&setup, None, true).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    }
}
