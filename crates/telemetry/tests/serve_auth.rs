//! `serve_with` end to end on loopback: a plain HTTP route behind the credential, the open
//! pages beside it, and the ops listener.

mod common;

use common::Echo;
use inferno_telemetry::{ops_router, serve_ops, serve_with, Credential, ServeOptions};
use inferno_testkit::http::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One HTTP/1.1 request with the bearer `token` if given.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Response {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let auth: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    inferno_testkit::http::request(addr, method, path, &auth, "")
        .await
        .unwrap()
}

/// A gRPC-shaped call over HTTP/1.1 (tonic accepts it with accept_http1); returns the head.
async fn grpc(addr: std::net::SocketAddr, path: &str, token: Option<&str>) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/grpc\r\n{auth}\
         content-length: 0\r\nconnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.to_lowercase()
}

#[tokio::test]
async fn the_credential_guards_invoke_and_leaves_the_pages_open() {
    let credential = Credential::new("0123456789abcdef").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = ops_router(|| "up 1\n".to_string())
        .route("/invoke", axum::routing::any(|| async { "cycle\n" }));
    let options = ServeOptions {
        timeout: None,
        credential: Some(credential),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(listener, Echo, &[], router, options, async {
        let _ = stopped.await;
    }));

    let r = http(addr, "POST", "/invoke", None).await;
    assert_eq!(r.status, 401, "{r:?}");
    let r = http(addr, "GET", "/invoke", Some("wrong-token-0000000")).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = http(addr, "POST", "/invoke", Some("0123456789abcdef")).await;
    assert!(r.status == 200 && r.body.ends_with("cycle\n"), "{r:?}");
    let apply = "/test.Echo/Apply";
    let r = grpc(addr, apply, None).await;
    assert!(r.contains("grpc-status: 16"), "UNAUTHENTICATED: {r}");
    let r = grpc(addr, apply, Some("wrong-token-0000000")).await;
    assert!(r.contains("grpc-status: 7"), "PERMISSION_DENIED: {r}");
    let r = grpc(addr, apply, Some("0123456789abcdef")).await;
    assert!(
        r.contains("grpc-status: 0") && r.contains("echo-reached: yes"),
        "{r}"
    );
    let r = http(addr, "GET", "/metrics", None).await;
    // The service's page, then the families every service shares.
    assert!(
        r.status == 200 && r.body.starts_with("up 1\n") && r.body.contains("inferno_build_info"),
        "{r:?}"
    );
    let r = http(addr, "GET", "/healthz", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_ops_listener_serves_health_and_metrics_only() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_ops(listener, ops_router(|| "m 2\n".into()), async {
        let _ = stopped.await;
    }));
    assert!(http(addr, "GET", "/healthz", None)
        .await
        .body
        .ends_with("ok\n"));
    assert!(http(addr, "GET", "/metrics", None)
        .await
        .body
        .starts_with("m 2\n"));
    let r = http(addr, "POST", "/invoke", None).await;
    assert!(r.status == 404 || r.status == 405, "{r:?}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
