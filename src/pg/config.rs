//! Connection settings from a URL such as
//! `postgresql://user:pass@host:5432/db?sslmode=require&application_name=app`.
//!
//! - Schemes `postgresql` and `postgres`; a `+driver` suffix
//!   (`postgresql+psycopg://`) is accepted and ignored.
//! - User, password, host and database are percent-decoded. A host that is an
//!   absolute path (`host=/run/postgresql` in the query, or `%2Frun%2Fpostgresql`
//!   in the host part) is a unix-socket directory; the socket file is
//!   `<dir>/.s.PGSQL.<port>`. `[::1]` is an IPv6 host. Default port 5432,
//!   default host `localhost`, default database = user name.
//! - Query options ([`PgConfig::set_option`], also usable for keyword
//!   arguments): `host`, `port`, `user`, `password`, `dbname`, `sslmode`
//!   (`disable|prefer|require|verify-ca|verify-full`, default `prefer`),
//!   `sslrootcert` (PEM file), `application_name`, `connect_timeout`,
//!   `command_timeout`, `acquire_timeout`, `max_idle_time`, `max_lifetime`
//!   (seconds, decimals allowed, `0` = none), `statement_cache_size` (default
//!   100, 0 = unnamed statements only), `min_connections` (1),
//!   `max_connections` (10), `echo` (bool), and `allow_trust` (bool, default
//!   false: accept a server that lets us in without asking for the password we
//!   hold). An unknown option is an error naming it.
//!
//! The password is never shown: `Debug` and `Display` print [`PgConfig::redacted_url`].

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use crate::error::{Error, Result};

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Tcp(String),
    /// Directory holding the server's socket file.
    Unix(PathBuf),
}

/// `sslmode`, as libpq defines it (without `allow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(config_error(format!(
                    "invalid sslmode {other:?}: expected disable, prefer, require, verify-ca or verify-full"
                )))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the connection must fail rather than go on without TLS.
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

/// Settings of one PostgreSQL engine.
#[derive(Clone, PartialEq)]
pub struct PgConfig {
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub host: Host,
    pub port: u16,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub application_name: Option<String>,
    pub connect_timeout: Option<Duration>,
    pub command_timeout: Option<Duration>,
    pub acquire_timeout: Option<Duration>,
    pub max_idle_time: Option<Duration>,
    pub max_lifetime: Option<Duration>,
    pub statement_cache_size: usize,
    pub min_connections: usize,
    pub max_connections: usize,
    pub echo: bool,
    pub allow_trust: bool,
}

fn config_error(message: impl Into<String>) -> Error {
    Error::argument(message)
}

fn decode(part: &str, what: &str) -> Result<String> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| config_error(format!("invalid percent-encoding in the {what} of the URL")))
}

fn seconds(name: &str, value: &str) -> Result<Option<Duration>> {
    let secs: f64 = value
        .trim()
        .parse()
        .map_err(|_| config_error(format!("invalid {name} {value:?}: expected seconds")))?;
    if !(0.0..=1e9).contains(&secs) {
        return Err(config_error(format!(
            "invalid {name} {value:?}: expected seconds"
        )));
    }
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

fn count(name: &str, value: &str) -> Result<usize> {
    value
        .trim()
        .parse()
        .map_err(|_| config_error(format!("invalid {name} {value:?}: expected a whole number")))
}

fn boolean(name: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(config_error(format!(
            "invalid {name} {value:?}: expected true or false"
        ))),
    }
}

fn host_from(text: String) -> Host {
    if text.starts_with('/') {
        Host::Unix(PathBuf::from(text))
    } else {
        Host::Tcp(text)
    }
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            user: String::new(),
            password: None,
            database: String::new(),
            host: Host::Tcp("localhost".into()),
            port: 5432,
            sslmode: SslMode::Prefer,
            sslrootcert: None,
            application_name: None,
            connect_timeout: None,
            command_timeout: None,
            acquire_timeout: None,
            max_idle_time: None,
            max_lifetime: None,
            statement_cache_size: 100,
            min_connections: 1,
            max_connections: 10,
            echo: false,
            allow_trust: false,
        }
    }
}

impl PgConfig {
    /// Parses a `postgresql://` or `postgres://` URL.
    pub fn from_url(url: &str) -> Result<PgConfig> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| config_error("not a PostgreSQL URL: expected postgresql://..."))?;
        let base = scheme.split_once('+').map_or(scheme, |(b, _)| b);
        if !matches!(base, "postgresql" | "postgres") {
            return Err(config_error(format!(
                "unsupported URL scheme {scheme:?}: expected postgresql:// or postgres://"
            )));
        }
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], &before_query[i + 1..]),
            None => (before_query, ""),
        };
        if path.contains('@') {
            // `user:pa/ss@host`: the '/' cut the password, and what follows would be read
            // as host, port and database (into error messages)
            return Err(config_error(
                "the URL's user name or password holds a raw '/': percent-encode it (%2F)",
            ));
        }
        let mut config = PgConfig::default();
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            config.user = decode(user, "user name")?;
            if let Some(p) = password {
                config.password = Some(decode(p, "password")?);
            }
        }
        config.parse_hostport(hostport)?;
        if !path.is_empty() {
            config.database = decode(path, "database name")?;
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key, "query")?;
            let value = decode(value, "query")?;
            config.set_option(&key, &value)?;
        }
        config.fill_defaults();
        config.validate()?;
        Ok(config)
    }

    fn parse_hostport(&mut self, hostport: &str) -> Result<()> {
        let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
            let (h, after) = inner
                .split_once(']')
                .ok_or_else(|| config_error("unterminated [IPv6] host in the URL"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| config_error("invalid text after the [IPv6] host"))?,
                ),
            };
            (h, port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if !host.is_empty() {
            self.host = host_from(decode(host, "host")?);
        }
        if let Some(port) = port.filter(|p| !p.is_empty()) {
            self.set_option("port", port)?;
        }
        Ok(())
    }

    /// Sets one option by name, as from the URL query or a keyword argument.
    pub fn set_option(&mut self, name: &str, value: &str) -> Result<()> {
        match name {
            "host" => self.host = host_from(value.to_owned()),
            "port" => {
                self.port = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| {
                        // not echoed: a password holding ':' or '/' can end up here
                        config_error("invalid port: expected a number from 1 to 65535")
                    })?
            }
            "user" => self.user = value.to_owned(),
            "password" => self.password = Some(value.to_owned()),
            "dbname" | "database" => self.database = value.to_owned(),
            "sslmode" => self.sslmode = SslMode::parse(value)?,
            "sslrootcert" => self.sslrootcert = Some(PathBuf::from(value)),
            "application_name" => self.application_name = Some(value.to_owned()),
            "connect_timeout" => self.connect_timeout = seconds(name, value)?,
            "command_timeout" => self.command_timeout = seconds(name, value)?,
            "acquire_timeout" => self.acquire_timeout = seconds(name, value)?,
            "max_idle_time" => self.max_idle_time = seconds(name, value)?,
            "max_lifetime" => self.max_lifetime = seconds(name, value)?,
            "statement_cache_size" => self.statement_cache_size = count(name, value)?,
            "min_connections" => self.min_connections = count(name, value)?,
            "max_connections" => self.max_connections = count(name, value)?,
            "echo" => self.echo = boolean(name, value)?,
            "allow_trust" => self.allow_trust = boolean(name, value)?,
            other => {
                let shown: String = other.chars().take(64).collect();
                return Err(config_error(format!("unknown connection option {shown:?}")));
            }
        }
        Ok(())
    }

    /// Fills the user (from `$PGUSER`/`$USER`, else `postgres`) and the
    /// database (the user name) when the URL gave none.
    pub fn fill_defaults(&mut self) {
        if self.user.is_empty() {
            self.user = std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "postgres".into());
        }
        if self.database.is_empty() {
            self.database = self.user.clone();
        }
    }

    /// Checks settings that only make sense together.
    pub fn validate(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(config_error("max_connections must be at least 1"));
        }
        if self.min_connections > self.max_connections {
            return Err(config_error(format!(
                "min_connections ({}) is larger than max_connections ({})",
                self.min_connections, self.max_connections
            )));
        }
        Ok(())
    }

    /// Whether the server is on this machine (unix socket or loopback), where
    /// a cleartext password does not cross a network.
    pub fn is_local(&self) -> bool {
        match &self.host {
            Host::Unix(_) => true,
            Host::Tcp(h) => {
                h == "localhost" || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
        }
    }

    /// The unix socket file, for a unix-socket host.
    pub fn socket_path(&self) -> Option<PathBuf> {
        match &self.host {
            Host::Unix(dir) => Some(dir.join(format!(".s.PGSQL.{}", self.port))),
            Host::Tcp(_) => None,
        }
    }

    /// The host name for TLS server-name checks (`verify-full`).
    pub fn tls_server_name(&self) -> &str {
        match &self.host {
            Host::Tcp(h) => h,
            Host::Unix(_) => "localhost",
        }
    }

    /// The URL with the password replaced by `***`, for `repr` and logs.
    pub fn redacted_url(&self) -> String {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let mut url = format!("postgresql://{}", enc(&self.user));
        if self.password.is_some() {
            url.push_str(":***");
        }
        url.push('@');
        let mut query = Vec::new();
        match &self.host {
            Host::Tcp(h) if h.contains(':') => url.push_str(&format!("[{h}]:{}", self.port)),
            Host::Tcp(h) => url.push_str(&format!("{}:{}", enc(h), self.port)),
            Host::Unix(dir) => {
                query.push(format!("host={}", enc(&dir.to_string_lossy())));
                query.push(format!("port={}", self.port));
            }
        }
        url.push('/');
        url.push_str(&enc(&self.database));
        if self.sslmode != SslMode::Prefer {
            query.push(format!("sslmode={}", self.sslmode.as_str()));
        }
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        url
    }

    /// Name/value pairs for the StartupMessage.
    pub fn startup_params(&self) -> Vec<(&str, &str)> {
        let mut params = vec![
            ("user", self.user.as_str()),
            ("database", self.database.as_str()),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO"),
        ];
        if let Some(app) = &self.application_name {
            params.push(("application_name", app));
        }
        params
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgConfig({})", self.redacted_url())
    }
}

impl fmt::Display for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_url() {
        let c = PgConfig::from_url(
            "postgresql://us%40er:p%3Ass%2Fw@db.example.com:6543/my%20db?sslmode=verify-full&application_name=app&connect_timeout=2.5&statement_cache_size=0&echo=true",
        )
        .unwrap();
        assert_eq!(c.user, "us@er");
        assert_eq!(c.password.as_deref(), Some("p:ss/w"));
        assert_eq!(c.host, Host::Tcp("db.example.com".into()));
        assert_eq!(c.port, 6543);
        assert_eq!(c.database, "my db");
        assert_eq!(c.sslmode, SslMode::VerifyFull);
        assert_eq!(c.application_name.as_deref(), Some("app"));
        assert_eq!(c.connect_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(c.statement_cache_size, 0);
        assert!(c.echo);
        assert!(!c.is_local());
    }

    #[test]
    fn defaults_and_schemes() {
        for url in [
            "postgres://bob@localhost/x",
            "postgresql+psycopg://bob@localhost/x",
            "postgresql+asyncpg://bob@localhost:5432/x",
        ] {
            let c = PgConfig::from_url(url).unwrap();
            assert_eq!(c.user, "bob");
            assert_eq!(c.port, 5432);
            assert_eq!(c.database, "x");
            assert_eq!(c.sslmode, SslMode::Prefer);
            assert_eq!(c.statement_cache_size, 100);
            assert_eq!((c.min_connections, c.max_connections), (1, 10));
            assert!(c.password.is_none());
            assert!(c.is_local());
        }
        let c = PgConfig::from_url("postgresql://bob@/").unwrap();
        assert_eq!(c.database, "bob");
        assert_eq!(c.host, Host::Tcp("localhost".into()));
        assert!(PgConfig::from_url("mysql://a@b/c").is_err());
        assert!(PgConfig::from_url("sqlite:///x.db").is_err());
        assert!(PgConfig::from_url("no url").is_err());
    }

    #[test]
    fn unix_sockets_and_ipv6() {
        let c = PgConfig::from_url("postgresql://u@%2Fvar%2Frun%2Fpostgresql:5433/db").unwrap();
        assert_eq!(c.host, Host::Unix("/var/run/postgresql".into()));
        assert_eq!(
            c.socket_path().unwrap(),
            PathBuf::from("/var/run/postgresql/.s.PGSQL.5433")
        );
        let c = PgConfig::from_url("postgresql://u@/db?host=/tmp/sock&port=6000").unwrap();
        assert_eq!(c.host, Host::Unix("/tmp/sock".into()));
        assert_eq!(c.port, 6000);
        assert!(c.is_local());
        let c = PgConfig::from_url("postgresql://u@[::1]:7000/db").unwrap();
        assert_eq!(c.host, Host::Tcp("::1".into()));
        assert_eq!(c.port, 7000);
        assert!(c.is_local());
        assert!(c.redacted_url().contains("[::1]:7000"));
    }

    #[test]
    fn options() {
        let c = PgConfig::from_url(
            "postgresql://u@h/d?min_connections=2&max_connections=5&acquire_timeout=1&max_idle_time=60&max_lifetime=0&command_timeout=0.25&sslrootcert=/ca.pem&allow_trust=yes",
        )
        .unwrap();
        assert_eq!((c.min_connections, c.max_connections), (2, 5));
        assert_eq!(c.acquire_timeout, Some(Duration::from_secs(1)));
        assert_eq!(c.max_idle_time, Some(Duration::from_secs(60)));
        assert_eq!(c.max_lifetime, None);
        assert_eq!(c.command_timeout, Some(Duration::from_millis(250)));
        assert_eq!(c.sslrootcert, Some(PathBuf::from("/ca.pem")));
        assert!(c.allow_trust);
    }

    #[test]
    fn errors_name_the_option_not_the_password() {
        let e = PgConfig::from_url("postgresql://u:hunter2@h/d?bogus=1").unwrap_err();
        assert!(e.message.contains("bogus"), "{}", e.message);
        assert!(!e.message.contains("hunter2"));
        for bad in [
            "postgresql://u:hunter2@h:99999/d",
            "postgresql://u:hunter2@h:0/d",
            "postgresql://u:hunter2@h/d?sslmode=maybe",
            "postgresql://u:hunter2@h/d?connect_timeout=-1",
            "postgresql://u:hunter2@h/d?max_connections=0",
            "postgresql://u:hunter2@h/d?min_connections=20",
            "postgresql://u:hunter2@h/d?echo=perhaps",
            "postgresql://u:%ff@h/d",
            "postgresql://u:hunter2@[::1/d",
        ] {
            let e = PgConfig::from_url(bad).unwrap_err();
            assert!(!e.message.contains("hunter2"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn password_never_shown() {
        let c = PgConfig::from_url("postgresql://u:s3cr%40t@h:1/d?sslmode=require").unwrap();
        for shown in [format!("{c:?}"), format!("{c}"), c.redacted_url()] {
            assert!(!shown.contains("s3cr"), "{shown}");
        }
        assert_eq!(c.redacted_url(), "postgresql://u:***@h:1/d?sslmode=require");
    }

    #[test]
    fn startup_params() {
        let c = PgConfig::from_url("postgresql://u@h/d?application_name=x").unwrap();
        let p = c.startup_params();
        assert!(p.contains(&("user", "u")));
        assert!(p.contains(&("database", "d")));
        assert!(p.contains(&("application_name", "x")));
        assert!(p.contains(&("client_encoding", "UTF8")));
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in ".*") {
            let _ = PgConfig::from_url(&s);
            let _ = PgConfig::from_url(&format!("postgresql://{s}"));
        }
    }
}
