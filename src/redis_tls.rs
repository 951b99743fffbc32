//! TLS for the Redis client, with redis-py's options (what upstream's
//! Redis URL sets): `ssl_ca_certs` (else the system's bundle),
//! `ssl_certfile`/`ssl_keyfile` (a client certificate), `ssl_cert_reqs`
//! (`required`/`optional` verify the chain, `none` does not) and
//! `ssl_check_hostname` (redis-py's default: off, the chain alone is
//! checked). rustls on ring: no OpenSSL is linked.

use crate::error::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM bundle of trusted certificates; None: the system's.
    pub ca_certs: Option<String>,
    pub certfile: Option<String>,
    pub keyfile: Option<String>,
    /// Verify the server's chain (`ssl_cert_reqs` other than `none`).
    pub verify: bool,
    /// Verify that the certificate names the host (`ssl_check_hostname`).
    pub check_hostname: bool,
}

/// Where Linux distributions keep the system's bundle.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn tls_error(what: impl std::fmt::Display) -> Error {
    Error::Config(format!("redis TLS: {what}"))
}

fn roots(options: &TlsOptions) -> Result<RootCertStore> {
    let path = match &options.ca_certs {
        Some(path) => path.clone(),
        None => std::env::var("SSL_CERT_FILE")
            .ok()
            .or_else(|| SYSTEM_BUNDLES.iter().find(|p| std::path::Path::new(p).exists()).map(|p| p.to_string()))
            .ok_or_else(|| tls_error("no ssl_ca_certs given and no system certificate bundle found"))?,
    };
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&path).map_err(|e| tls_error(format!("{path}: {e}")))? {
        let cert = cert.map_err(|e| tls_error(format!("{path}: {e}")))?;
        store.add(cert).map_err(|e| tls_error(format!("{path}: {e}")))?;
    }
    if store.is_empty() {
        return Err(tls_error(format!("{path}: no certificate")));
    }
    Ok(store)
}

/// The client configuration of `options` (read once per client).
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>> {
    // ring: no post-quantum key exchange (rustls deprecates its default
    // provider for that), but no cmake and minutes of aws-lc build either;
    // Redis servers offer the classic groups.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let verifier: Arc<dyn ServerCertVerifier> = if options.verify {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(options)?), provider.clone())
            .build()
            .map_err(tls_error)?;
        Arc::new(Verifier { webpki: Some(webpki), check_hostname: options.check_hostname, provider })
    } else {
        Arc::new(Verifier { webpki: None, check_hostname: false, provider })
    };
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
    let config = match (&options.certfile, &options.keyfile) {
        (Some(certfile), keyfile) => {
            let certs = CertificateDer::pem_file_iter(certfile)
                .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| tls_error(format!("{certfile}: {e}")))?;
            // redis-py reads the key from the certificate file when no
            // key file is given.
            let keyfile = keyfile.as_ref().unwrap_or(certfile);
            let key = PrivateKeyDer::from_pem_file(keyfile).map_err(|e| tls_error(format!("{keyfile}: {e}")))?;
            builder.with_client_auth_cert(certs, key).map_err(tls_error)?
        }
        (None, Some(_)) => return Err(tls_error("ssl_keyfile without ssl_certfile")),
        (None, None) => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A client connection to `host` (a name or an address).
pub fn connection(config: &Arc<ClientConfig>, host: &str) -> Result<ClientConnection> {
    let name = ServerName::try_from(host.to_owned()).map_err(|e| tls_error(format!("{host}: {e}")))?;
    ClientConnection::new(config.clone(), name).map_err(tls_error)
}

/// The chain checked unless `ssl_cert_reqs=none`; the name only with
/// `ssl_check_hostname`, as redis-py does.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    check_hostname: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else { return Ok(ServerCertVerified::assertion()) };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_hostname => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
