//! TLS client settings per `sslmode`, for a rustls connection used sans-I/O.
//!
//! - `verify-full`: the chain must lead to a trusted root and the certificate
//!   must name the host.
//! - `verify-ca`: the chain must lead to a trusted root; the name is not checked.
//! - `require` / `prefer`: encryption without authentication of the server,
//!   as libpq does: any certificate is accepted (handshake signatures are
//!   still checked, so the session keys belong to whoever holds that cert).
//!
//! Trusted roots come from `sslrootcert` (a PEM file) or, without it, from
//! the Mozilla roots bundled by `webpki-roots`.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

use crate::error::{Error, Result};

use super::config::{PgConfig, SslMode};

fn tls_error(message: impl std::fmt::Display) -> Error {
    Error::operational(format!("TLS setup failed: {message}"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn root_store(config: &PgConfig) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match &config.sslrootcert {
        Some(path) => {
            let file = File::open(path).map_err(|e| {
                tls_error(format!("cannot read sslrootcert {}: {e}", path.display()))
            })?;
            let mut added = 0;
            for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
                let cert = cert.map_err(|e| {
                    tls_error(format!(
                        "invalid PEM in sslrootcert {}: {e}",
                        path.display()
                    ))
                })?;
                roots.add(cert).map_err(tls_error)?;
                added += 1;
            }
            if added == 0 {
                return Err(tls_error(format!(
                    "no certificate found in sslrootcert {}",
                    path.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

/// Accepts any certificate: `sslmode=require` / `prefer`.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

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

/// Checks the chain but not the host name: `sslmode=verify-ca`.
#[derive(Debug)]
struct VerifyChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for VerifyChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The name is checked only once the chain is valid, so a name error
        // means the chain passed.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The rustls client settings for `config.sslmode`.
pub fn client_config(config: &PgConfig) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match config.sslmode {
        SslMode::VerifyFull | SslMode::VerifyCa => {
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(root_store(config)?),
                provider.clone(),
            )
            .build()
            .map_err(tls_error)?;
            if config.sslmode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(VerifyChainOnly(webpki))
            }
        }
        _ => Arc::new(AcceptAnyCertificate(provider.clone())),
    };
    let mut tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Arc::new(tls))
}

/// A rustls client session for `config`'s host.
pub fn client_session(config: &PgConfig) -> Result<ClientConnection> {
    let name = ServerName::try_from(config.tls_server_name().to_owned())
        .map_err(|_| tls_error("the host is not a valid TLS server name"))?;
    let mut session = ClientConnection::new(client_config(config)?, name).map_err(tls_error)?;
    // The connection hands every write to the socket at once (take_output after
    // each send), so rustls need not cap what it buffers: its default 64 KiB limit
    // made any statement larger than that fail over TLS.
    session.set_buffer_limit(None);
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_build_for_every_mode() {
        for mode in ["prefer", "require", "verify-ca", "verify-full"] {
            let c = PgConfig::from_url(&format!("postgresql://u@db.example.com/d?sslmode={mode}"))
                .unwrap();
            let session = client_session(&c).unwrap();
            assert!(session.is_handshaking());
        }
        let c = PgConfig::from_url("postgresql://u@127.0.0.1/d?sslmode=verify-full").unwrap();
        assert!(client_session(&c).is_ok());
    }

    #[test]
    fn missing_root_file_is_an_error() {
        let c = PgConfig::from_url(
            "postgresql://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap();
        let e = client_config(&c).unwrap_err();
        assert!(e.message.contains("sslrootcert"), "{}", e.message);
    }
}
