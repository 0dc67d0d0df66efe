//! The shared credential of the Inferno services: a bearer token read from a file (a mounted
//! Secret), checked on every call that changes something or costs CPU, sent by the controller on
//! its calls. Inside the pod the internal services listen on loopback and need none; the token
//! is what makes running them apart safe (docs/security.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tonic::metadata::{Ascii, MetadataValue};

/// Env var naming the token file of every service (`--auth-token-file`).
pub const TOKEN_FILE_ENV: &str = "INFERNO_AUTH_TOKEN_FILE";
/// Shortest token accepted: a guessable token is no credential.
const MIN_TOKEN_LEN: usize = 16;

/// Why a token is no credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Guessable: fewer than 16 characters.
    #[error("token too short ({len} characters, at least {MIN_TOKEN_LEN})")]
    TooShort {
        /// Its length.
        len: usize,
    },
    /// A space, a control character or a non-ASCII byte: no valid header value.
    #[error("token must be printable ASCII without spaces")]
    NotPrintable,
}

/// A token file that gives no credential; names the file.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The file cannot be read.
    #[error("auth token file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// Its token is no credential.
    #[error("auth token file {}: {source}", path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// What is wrong with the token.
        #[source]
        source: TokenError,
    },
}

/// A non-loopback listen address without a credential; names what set the address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} {addr}: refusing to listen beyond loopback without a credential; listen on \
     127.0.0.1 (a pod's containers share it) or set --auth-token-file / {TOKEN_FILE_ENV}"
)]
pub struct ExposureError {
    /// The flag or env vars that set the address.
    pub what: String,
    /// The address.
    pub addr: SocketAddr,
}

/// A bearer token. `Debug` never shows it.
#[derive(Clone)]
pub struct Credential {
    token: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

impl Credential {
    /// The token in `path` (surrounding whitespace ignored; at least 16 printable ASCII
    /// characters). Errors name the file.
    pub fn from_file(path: &Path) -> Result<Self, CredentialError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::new(text.trim()).map_err(|source| CredentialError::Token {
            path: path.to_owned(),
            source,
        })
    }

    /// The token of the file named by `INFERNO_AUTH_TOKEN_FILE`, if that is set and not empty.
    pub fn from_env() -> Result<Option<Self>, CredentialError> {
        match std::env::var_os(TOKEN_FILE_ENV) {
            Some(p) if !p.is_empty() => Self::from_file(Path::new(&p)).map(Some),
            _ => Ok(None),
        }
    }

    /// A credential from the token itself.
    pub fn new(token: &str) -> Result<Self, TokenError> {
        if token.len() < MIN_TOKEN_LEN {
            return Err(TokenError::TooShort { len: token.len() });
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotPrintable);
        }
        Ok(Self {
            token: token.to_owned(),
        })
    }

    /// The `authorization` header value: `Bearer <token>`.
    pub fn bearer(&self) -> MetadataValue<Ascii> {
        format!("Bearer {}", self.token)
            .parse()
            .expect("a printable ASCII token is a valid header value")
    }

    /// Whether an `authorization` header value carries this token. Compared in constant time,
    /// so the answer's timing tells nothing about how much of a guess was right.
    pub fn accepts(&self, header: &[u8]) -> bool {
        let Some(given) = header.strip_prefix(b"Bearer ") else {
            return false;
        };
        let expected = self.token.as_bytes();
        given.len() == expected.len()
            && given
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Refuses to serve `what` on a non-loopback address without a credential: anything that can
/// reach the port could otherwise call it. `what` names the flag or env var that set `addr`.
pub fn check_exposure(
    what: &str,
    addr: SocketAddr,
    credential: Option<&Credential>,
) -> Result<(), ExposureError> {
    if addr.ip().is_loopback() || credential.is_some() {
        return Ok(());
    }
    Err(ExposureError {
        what: what.to_owned(),
        addr,
    })
}

/// Adds `authorization: Bearer <token>` to every outgoing call (nothing without a credential).
#[derive(Debug, Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

/// The interceptor for a client of an Inferno service.
pub fn client_interceptor(credential: Option<Credential>) -> Bearer {
    Bearer(credential.map(|c| c.bearer()))
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

/// Calls anyone may make: health (probes), reflection (the schema is public; grpcurl needs it)
/// and the read-only HTTP pages.
pub(crate) fn is_open(method: &axum::http::Method, path: &str) -> bool {
    path.starts_with("/grpc.health.v1.")
        || path.starts_with("/grpc.reflection.")
        || (method == axum::http::Method::GET
            && matches!(path, "/metrics" | "/healthz" | "/readyz"))
}

/// The check on one request: `None` lets it through, `Some(response)` answers it. gRPC calls get
/// UNAUTHENTICATED (no token) or PERMISSION_DENIED (a wrong one); plain HTTP 401 or 403.
pub(crate) fn refuse(
    credential: &Credential,
    request: &axum::extract::Request,
) -> Option<axum::response::Response> {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    if is_open(request.method(), request.uri().path()) {
        return None;
    }
    let given = request.headers().get(header::AUTHORIZATION);
    if given.is_some_and(|v| credential.accepts(v.as_bytes())) {
        return None;
    }
    let path = request.uri().path().to_owned();
    tracing::warn!(%path, token = given.is_some(), "refused a call without a valid credential");
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    Some(match (grpc, given.is_some()) {
        (true, false) => tonic::Status::unauthenticated(format!(
            "{path}: this call needs `authorization: Bearer <token>` ({TOKEN_FILE_ENV})"
        ))
        .into_http(),
        (true, true) => {
            tonic::Status::permission_denied(format!("{path}: the bearer token is not valid"))
                .into_http()
        }
        (false, false) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            format!("{path}: this call needs `authorization: Bearer <token>`\n"),
        )
            .into_response(),
        (false, true) => (
            StatusCode::FORBIDDEN,
            format!("{path}: the bearer token is not valid\n"),
        )
            .into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_whole() {
        let c = Credential::new("0123456789abcdef").unwrap();
        assert!(c.accepts(b"Bearer 0123456789abcdef"));
        assert!(!c.accepts(b"Bearer 0123456789abcde"));
        assert!(!c.accepts(b"Bearer 0123456789abcdeF"));
        assert!(!c.accepts(b"0123456789abcdef"));
        let err = Credential::new("short").unwrap_err();
        assert_eq!(err, TokenError::TooShort { len: 5 });
        assert_eq!(
            err.to_string(),
            "token too short (5 characters, at least 16)"
        );
        assert_eq!(
            Credential::new("0123456789 abcdef").unwrap_err(),
            TokenError::NotPrintable
        );
        assert_eq!(format!("{c:?}"), "Credential(<redacted>)");
    }

    #[test]
    fn exposure_needs_loopback_or_a_credential() {
        let c = Credential::new("0123456789abcdef").unwrap();
        let any: SocketAddr = "0.0.0.0:3303".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:3303".parse().unwrap();
        let err = check_exposure("--listen", any, None).unwrap_err();
        assert_eq!((err.what.as_str(), err.addr), ("--listen", any));
        let err = err.to_string();
        assert!(err.starts_with("--listen 0.0.0.0:3303: refusing") && err.contains(TOKEN_FILE_ENV));
        assert!(check_exposure("--listen", any, Some(&c)).is_ok());
        assert!(check_exposure("--listen", lo, None).is_ok());
        assert!(check_exposure("--listen", "[::1]:1".parse().unwrap(), None).is_ok());
    }

    #[test]
    fn token_file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("inferno-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "  0123456789abcdef\n").unwrap();
        assert!(Credential::from_file(&f)
            .unwrap()
            .accepts(b"Bearer 0123456789abcdef"));
        std::fs::write(&f, "\n").unwrap();
        let err = Credential::from_file(&f).unwrap_err();
        assert!(
            matches!(&err, CredentialError::Token { path, source: TokenError::TooShort { len: 0 } } if *path == f)
        );
        assert_eq!(
            err.to_string(),
            format!(
                "auth token file {}: token too short (0 characters, at least 16)",
                f.display()
            )
        );
        let missing = dir.join("missing");
        let err = Credential::from_file(&missing).unwrap_err();
        assert!(matches!(&err, CredentialError::Read { path, .. } if *path == missing));
        assert!(err
            .to_string()
            .starts_with(&format!("auth token file {}: ", missing.display())));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod refusal_tests {
    use super::*;
    use axum::extract::Request;

    fn request(method: &str, path: &str, grpc: bool, token: Option<&str>) -> Request {
        let mut b = axum::http::Request::builder().method(method).uri(path);
        if grpc {
            b = b.header("content-type", "application/grpc");
        }
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    fn grpc_status(r: &axum::response::Response) -> Option<&str> {
        r.headers().get("grpc-status").and_then(|v| v.to_str().ok())
    }

    #[test]
    fn calls_without_the_token_are_refused_with_the_right_code() {
        let c = Credential::new("0123456789abcdef").unwrap();
        let apply = "/inferno.v1.Actuator/Apply";
        let none = refuse(&c, &request("POST", apply, true, None)).unwrap();
        assert_eq!(grpc_status(&none), Some("16"), "UNAUTHENTICATED");
        let wrong = refuse(&c, &request("POST", apply, true, Some("x"))).unwrap();
        assert_eq!(grpc_status(&wrong), Some("7"), "PERMISSION_DENIED");
        assert!(refuse(&c, &request("POST", apply, true, Some("0123456789abcdef"))).is_none());
        let http = refuse(&c, &request("GET", "/invoke", false, None)).unwrap();
        assert_eq!(http.status(), 401);
        let http = refuse(&c, &request("POST", "/invoke", false, Some("nope"))).unwrap();
        assert_eq!(http.status(), 403);
    }

    #[test]
    fn health_reflection_and_read_only_pages_stay_open() {
        let c = Credential::new("0123456789abcdef").unwrap();
        for (m, p, g) in [
            ("POST", "/grpc.health.v1.Health/Check", true),
            (
                "POST",
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                true,
            ),
            ("GET", "/metrics", false),
            ("GET", "/healthz", false),
            ("GET", "/readyz", false),
        ] {
            assert!(refuse(&c, &request(m, p, g, None)).is_none(), "{m} {p}");
        }
        assert!(refuse(&c, &request("POST", "/metrics", false, None)).is_some());
    }
}
