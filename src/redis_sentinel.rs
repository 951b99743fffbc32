//! Following a Sentinel-managed master: which server is the master now,
//! asked of the sentinels in order (`SENTINEL get-master-addr-by-name`),
//! and which replies say a pipeline reached a server that is no longer
//! (or not yet) the master.

use crate::error::{Error, Result};
use crate::redis_client::{command, Address, Connection, RedisConfig, Reply};
use crate::redis_tls::{self, TlsOptions};
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone)]
pub struct SentinelConfig {
    pub sentinels: Vec<(String, u16)>,
    /// The monitored master's name (`?sentinel=<name>`).
    pub service: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `sentinel_ssl`: the sentinels themselves over TLS.
    pub tls: Option<TlsOptions>,
}

pub struct Sentinels {
    config: SentinelConfig,
    tls: OnceLock<std::result::Result<Arc<rustls::ClientConfig>, String>>,
}

impl Sentinels {
    pub fn new(config: SentinelConfig) -> Sentinels {
        Sentinels { config, tls: OnceLock::new() }
    }

    fn tls(&self) -> Result<Option<&Arc<rustls::ClientConfig>>> {
        let Some(options) = &self.config.tls else { return Ok(None) };
        match self.tls.get_or_init(|| redis_tls::client_config(options).map_err(|e| e.to_string())) {
            Ok(config) => Ok(Some(config)),
            Err(why) => Err(Error::Config(why.clone())),
        }
    }

    /// The master's address as the first sentinel that knows it says.
    pub fn master(&self, timeout: Option<std::time::Duration>) -> Result<Address> {
        let mut failures = Vec::new();
        for (host, port) in &self.config.sentinels {
            let address = Address::Tcp { host: host.clone(), port: *port };
            let config = RedisConfig {
                address: address.clone(),
                username: self.config.username.clone(),
                password: self.config.password.clone(),
                db: 0,
                timeout,
                tls: self.config.tls.clone(),
                keepalive: false,
            };
            let asked = Connection::open(&config, &address, self.tls()?).and_then(|mut sentinel| {
                let ask = command(&[b"SENTINEL", b"get-master-addr-by-name", self.config.service.as_bytes()]);
                sentinel.pipeline(&[ask])
            });
            match asked.map(|mut replies| replies.pop()) {
                Ok(Some(Reply::Array(parts))) if parts.len() == 2 => {
                    let mut parts = parts.into_iter();
                    let text = |part: Option<Reply>| {
                        part.and_then(|p| p.into_bytes().ok().flatten()).and_then(|b| String::from_utf8(b).ok())
                    };
                    let master_host = text(parts.next());
                    let master_port = text(parts.next()).and_then(|p| p.parse::<u16>().ok());
                    match (master_host, master_port) {
                        (Some(host), Some(port)) => return Ok(Address::Tcp { host, port }),
                        _ => failures.push(format!("{host}:{port}: an unreadable master address")),
                    }
                }
                Ok(other) => failures.push(format!("{host}:{port}: no master {:?} ({other:?})", self.config.service)),
                Err(e) => failures.push(format!("{host}:{port}: {e}")),
            }
        }
        Err(Error::Backend(format!("redis sentinel: no master found: {}", failures.join("; "))))
    }
}

/// Replies by which a server refuses writes because it is not the master
/// (a replica, a master without its required replicas, a master being
/// failed over): nothing was written, the pipeline can go to the master.
pub fn not_the_master(reply: &Reply) -> bool {
    matches!(reply, Reply::Error(e) if e.starts_with("READONLY") || e.starts_with("NOREPLICAS")
        || e.starts_with("MASTERDOWN") || e.starts_with("LOADING"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_a_non_master_are_told_apart() {
        assert!(not_the_master(&Reply::Error("READONLY You can't write against a read only replica.".into())));
        assert!(not_the_master(&Reply::Error("NOREPLICAS Not enough good replicas to write.".into())));
        assert!(!not_the_master(&Reply::Error("WRONGTYPE Operation against a key".into())));
        assert!(!not_the_master(&Reply::Integer(1)));
    }
}
