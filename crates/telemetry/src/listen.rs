//! The gRPC listen address of an Inferno service: `--listen` when given, else the seed's
//! `<NAME>_HOST` / `<NAME>_PORT` variables, else the service's own default host and port. Each
//! service keeps its own `--listen` flag (its env var and help text differ); this is the
//! fallback they share.

use std::net::{AddrParseError, SocketAddr};

/// An address the listen variables make no sense of: names both variables and the address
/// they made (`X_HOST/X_PORT 127.0.0.1:http: invalid socket address syntax`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{vars} {address}: {source}")]
pub struct ListenError {
    /// The variables, `HOST_VAR/PORT_VAR`.
    pub vars: String,
    /// What they made of the address, `host:port`.
    pub address: String,
    /// Why that is no socket address.
    #[source]
    pub source: AddrParseError,
}

/// Where a service listens when `--listen` is not given, and how messages name what set the
/// address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddress {
    flag: &'static str,
    host_var: &'static str,
    port_var: &'static str,
    /// Older names of the same two variables, read when the new ones are unset.
    alias: Option<(&'static str, &'static str)>,
    host: &'static str,
    port: u16,
}

impl ListenAddress {
    /// The variables `host_var` and `port_var` (each, when unset or empty, replaced by `host`
    /// and `port`); messages name the flag `--listen`.
    pub const fn seed(
        host_var: &'static str,
        port_var: &'static str,
        host: &'static str,
        port: u16,
    ) -> Self {
        Self {
            flag: "--listen",
            host_var,
            port_var,
            alias: None,
            host,
            port,
        }
    }

    /// The same, also reading `host_var` / `port_var` where the first names are unset (a
    /// variable renamed for clarity, its old name kept working).
    pub const fn or(self, host_var: &'static str, port_var: &'static str) -> Self {
        Self {
            alias: Some((host_var, port_var)),
            ..self
        }
    }

    /// The same, with messages naming the flag as `flag` (e.g. with its env var).
    pub const fn flag(self, flag: &'static str) -> Self {
        Self { flag, ..self }
    }

    /// The address: `flag` when given, else from the process environment, else the default.
    pub fn address(&self, flag: Option<SocketAddr>) -> Result<SocketAddr, ListenError> {
        self.resolve(flag).map(|(addr, _)| addr)
    }

    /// The address and what set it, for messages: the flag's name, or `HOST_VAR/PORT_VAR`
    /// (also when the defaults filled in). An address the variables make no sense of is an
    /// error naming both variables and the address they made.
    pub fn resolve(&self, flag: Option<SocketAddr>) -> Result<(SocketAddr, String), ListenError> {
        self.resolve_with(flag, |name| std::env::var(name).ok())
    }

    /// [`resolve`](Self::resolve) with `env` standing for the process environment.
    pub fn resolve_with(
        &self,
        flag: Option<SocketAddr>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(SocketAddr, String), ListenError> {
        if let Some(addr) = flag {
            return Ok((addr, self.flag.to_owned()));
        }
        // Each value from its variable, else its alias, else the default; messages name the
        // variables that were read (the new names when neither was set).
        let var = |name: &'static str, alias: Option<&'static str>, default: String| {
            let set = |n: &str| env(n).filter(|v| !v.is_empty());
            match (set(name), alias.and_then(|a| set(a).map(|v| (a, v)))) {
                (Some(v), _) => (name, v),
                (None, Some((a, v))) => (a, v),
                (None, None) => (name, default),
            }
        };
        let (host_var, host) = var(self.host_var, self.alias.map(|a| a.0), self.host.to_owned());
        let (port_var, port) = var(
            self.port_var,
            self.alias.map(|a| a.1),
            self.port.to_string(),
        );
        let vars = format!("{host_var}/{port_var}");
        let address = format!("{host}:{port}");
        match address.parse() {
            Ok(addr) => Ok((addr, vars)),
            Err(source) => Err(ListenError {
                vars,
                address,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: ListenAddress = ListenAddress::seed("X_HOST", "X_PORT", "127.0.0.1", 3309);

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_defaults_fill_in_what_the_variables_leave_unset_or_empty() {
        let got = SEED.resolve_with(None, env(&[])).unwrap();
        assert_eq!(got, (addr("127.0.0.1:3309"), "X_HOST/X_PORT".to_owned()));
        let got = SEED
            .resolve_with(None, env(&[("X_HOST", "0.0.0.0")]))
            .unwrap();
        assert_eq!(got.0, addr("0.0.0.0:3309"));
        let got = SEED.resolve_with(None, env(&[("X_HOST", ""), ("X_PORT", "4000")]));
        assert_eq!(got.unwrap().0, addr("127.0.0.1:4000"));
    }

    #[test]
    fn the_flag_wins_over_the_variables() {
        let vars = [("X_HOST", "10.0.0.1"), ("X_PORT", "1")];
        let got = SEED
            .resolve_with(Some(addr("0.0.0.0:9")), env(&vars))
            .unwrap();
        assert_eq!(got, (addr("0.0.0.0:9"), "--listen".to_owned()));
        let named = SEED.flag("--listen (X_LISTEN)");
        let got = named
            .resolve_with(Some(addr("0.0.0.0:9")), env(&vars))
            .unwrap();
        assert_eq!(got.1, "--listen (X_LISTEN)");
        // Not the flag: the variables, however the flag is named.
        let got = named.resolve_with(None, env(&vars)).unwrap();
        assert_eq!(got, (addr("10.0.0.1:1"), "X_HOST/X_PORT".to_owned()));
    }

    #[test]
    fn a_bad_port_or_host_is_an_error_naming_the_variables() {
        let err = SEED
            .resolve_with(None, env(&[("X_PORT", "http")]))
            .unwrap_err();
        assert_eq!(
            (err.vars.as_str(), err.address.as_str()),
            ("X_HOST/X_PORT", "127.0.0.1:http")
        );
        let why = "127.0.0.1:http".parse::<SocketAddr>().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("X_HOST/X_PORT 127.0.0.1:http: {why}")
        );
        let err = SEED
            .resolve_with(None, env(&[("X_PORT", "70000")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("X_HOST/X_PORT 127.0.0.1:70000: "), "{err}");
        let err = SEED
            .resolve_with(None, env(&[("X_HOST", "no host")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("X_HOST/X_PORT no host:3309: "), "{err}");
    }

    #[test]
    fn old_names_are_read_where_the_new_ones_are_unset() {
        let renamed = SEED.or("OLD_HOST", "OLD_PORT");
        let got = renamed
            .resolve_with(None, env(&[("OLD_HOST", "0.0.0.0"), ("OLD_PORT", "4000")]))
            .unwrap();
        assert_eq!(got, (addr("0.0.0.0:4000"), "OLD_HOST/OLD_PORT".to_owned()));
        // The new name wins; each variable on its own.
        let got = renamed
            .resolve_with(None, env(&[("X_PORT", "5000"), ("OLD_PORT", "4000")]))
            .unwrap();
        assert_eq!(got, (addr("127.0.0.1:5000"), "X_HOST/X_PORT".to_owned()));
        let err = renamed
            .resolve_with(None, env(&[("OLD_PORT", "http")]))
            .unwrap_err();
        assert_eq!(err.vars, "X_HOST/OLD_PORT");
    }

    #[test]
    fn the_process_environment_is_read_by_name() {
        // Names no environment sets: the defaults, and the flag still wins.
        let unset = ListenAddress::seed(
            "INFERNO_TEST_UNSET_HOST",
            "INFERNO_TEST_UNSET_PORT",
            "127.0.0.1",
            3309,
        );
        assert_eq!(unset.address(None).unwrap(), addr("127.0.0.1:3309"));
        let flag = addr("127.0.0.1:1");
        assert_eq!(unset.address(Some(flag)).unwrap(), flag);
    }
}
