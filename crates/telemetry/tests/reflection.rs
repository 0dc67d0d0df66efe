//! Reflection describes the service with the descriptor sets its caller passes to `serve`
//! (telemetry knows no protos of its own), beside health's.

mod common;

use common::Echo;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

/// An encoded `FileDescriptorSet`: file `echo.proto`, package `test`, service `Echo` (no
/// methods). Written out by hand: telemetry's tests have no protobuf compiler.
const ECHO_DESCRIPTORS: &[u8] = b"\x0a\x1a\x0a\x0aecho.proto\x12\x04test\x32\x06\x0a\x04Echo";

/// The same, with a second service `Other` in the file, as the contract's file holds every
/// service of the loop.
const ECHO_AND_OTHER: &[u8] =
    b"\x0a\x23\x0a\x0aecho.proto\x12\x04test\x32\x06\x0a\x04Echo\x32\x07\x0a\x05Other";

/// The services reflection lists on a server given `descriptors`.
async fn listed(descriptors: &'static [&'static [u8]]) -> Vec<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(inferno_telemetry::serve(
        listener,
        Echo,
        descriptors,
        axum::Router::new(),
        None,
        async {
            let _ = stopped.await;
        },
    ));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a list of services: {answer:?}");
    };
    drop((client, answers));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    names
}

#[tokio::test]
async fn reflection_lists_the_callers_services_and_health() {
    let names = listed(&[ECHO_DESCRIPTORS]).await;
    assert!(names.iter().any(|n| n == "test.Echo"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );
}

/// Only the served service and health are listed, whatever else the descriptors hold. Before:
/// every service of the contract on every port (`inferno.v1.Collector` on the optimizer's).
#[tokio::test]
async fn reflection_lists_only_the_service_served() {
    let names = listed(&[ECHO_AND_OTHER]).await;
    assert_eq!(names, ["grpc.health.v1.Health", "test.Echo"]);
}
