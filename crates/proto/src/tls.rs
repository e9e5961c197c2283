//! TLS client setup (rustls with the ring provider) and failure classification.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use stampede_metrics::ErrorClass;
use stampede_plan::TlsOptions;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls rejected the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn file_err(path: &Path, reason: impl std::fmt::Display) -> TlsSetupError {
    TlsSetupError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Builds the client configuration shared by every connection of a run. `alpn` lists
/// the protocols to offer, most preferred first.
pub fn client_config(
    opts: &TlsOptions,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        match &opts.ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| file_err(path, e))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| file_err(path, e))?;
                if certs.is_empty() {
                    return Err(file_err(path, "no PEM certificate found"));
                }
                for c in certs {
                    roots.add(c).map_err(|e| file_err(path, e))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match &opts.client_cert {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| file_err(cert, e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| file_err(cert, e))?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
            builder.with_client_auth_cert(chain, key_der)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    if opts.no_resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(config))
}

/// The server name to verify and send as SNI.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsSetupError> {
    ServerName::try_from(host.to_string()).map_err(|e| TlsSetupError::File {
        path: host.to_string(),
        reason: format!("not a valid TLS server name: {e}"),
    })
}

/// Classifies a failed TLS handshake.
pub fn classify_tls(e: &io::Error) -> ErrorClass {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. } => ErrorClass::TlsName,
            _ => ErrorClass::TlsCertificate,
        },
        // The server offers none of our ALPN protocols (RFC 7301 section 3.2), or
        // picked one we did not offer.
        Some(
            rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)
            | rustls::Error::NoApplicationProtocol
            | rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SelectedUnofferedApplicationProtocol,
            ),
        ) => ErrorClass::AlpnMismatch,
        Some(_) => ErrorClass::TlsHandshake,
        None => match e.kind() {
            io::ErrorKind::ConnectionReset => ErrorClass::Reset,
            // EOF or garbage during the handshake: the peer does not speak TLS.
            _ => ErrorClass::TlsHandshake,
        },
    }
}

/// `--insecure`: accepts any certificate, still checking handshake signatures.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(e: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn classifies_alpn_refusals() {
        let refused = rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol);
        assert_eq!(classify_tls(&io(refused)), ErrorClass::AlpnMismatch);
        let unoffered = rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SelectedUnofferedApplicationProtocol,
        );
        assert_eq!(classify_tls(&io(unoffered)), ErrorClass::AlpnMismatch);
        let other = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(classify_tls(&io(other)), ErrorClass::TlsHandshake);
        let name = rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        assert_eq!(classify_tls(&io(name)), ErrorClass::TlsName);
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "eof");
        assert_eq!(classify_tls(&eof), ErrorClass::TlsHandshake);
    }
}
