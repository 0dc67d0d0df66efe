//! Watches (`?watch=true`): a chunked stream of newline-delimited `WatchEvent`s (`ADDED`,
//! `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`) replayed from the store's change history.
//!
//! Without a resourceVersion (or with `0`, or `sendInitialEvents=true`) the stream opens with
//! synthetic `ADDED` events for the current objects; with one it replays every later change, or
//! fails with a 410 `Expired` `ERROR` event when that history is no longer kept. A change that
//! moves an object into or out of the selectors is sent as `ADDED` or `DELETED`, as a real API
//! server does.

use crate::error::ApiError;
use crate::events_v1 as view;
use crate::handlers::{error_response, AppState, Query};
use crate::meta;
use crate::resource::{self, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Change, ChangeType};
use crate::table;
use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Longest watch when the client gives no `timeoutSeconds` (a real server picks 30-60 min).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Filter {
    rt: &'static ResourceType,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, obj: &Value) -> bool {
        self.ns
            .as_deref()
            .is_none_or(|ns| meta::namespace(obj) == ns)
            && self.labels.matches(meta::labels(obj))
            && self.fields.matches(obj)
    }

    /// The event type a change shows as to this watch, and the object as the watched version
    /// shows it, if it shows at all.
    fn event(&self, c: &Change) -> Option<(&'static str, Arc<Value>)> {
        if !std::ptr::eq(c.resource, resource::storage(self.rt)) {
            return None;
        }
        let object = view::read(self.rt, c.object.clone());
        let now = self.matches(&object);
        let kind = match c.kind {
            ChangeType::Added | ChangeType::Deleted => now.then_some(c.kind.as_str()),
            ChangeType::Modified => {
                let before = c
                    .previous
                    .as_ref()
                    .is_some_and(|p| self.matches(&view::read(self.rt, p.clone())));
                match (before, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
        };
        kind.map(|k| (k, object))
    }
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Starts a watch of `rt` objects in `ns` (all namespaces with `None`).
pub(crate) fn serve(
    state: &AppState,
    rt: &'static ResourceType,
    ns: Option<String>,
    query: &Query,
    as_table: bool,
) -> Response {
    let setup = (|| {
        let filter = Filter {
            rt,
            ns: ns.filter(|_| rt.namespaced),
            labels: query.labels()?,
            fields: query.fields(rt)?,
        };
        let timeout = query
            .number("timeoutSeconds")?
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        let from = match query.get("resourceVersion").unwrap_or("") {
            "" | "0" => None,
            v => Some(
                v.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {v:?}")))?,
            ),
        };
        Ok::<_, ApiError>((filter, timeout, from))
    })();
    let (filter, timeout, from) = match setup {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let streaming = query.flag("sendInitialEvents");
    let initial = from.is_none() || streaming;
    let bookmarks = query.flag("allowWatchBookmarks");
    let opts = Options {
        from,
        initial,
        initial_end: streaming && bookmarks,
        bookmarks,
        timeout,
        as_table,
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let state = state.clone();
    tokio::spawn(async move {
        stream(state, filter, opts, tx).await;
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response()
}

struct Options {
    from: Option<u64>,
    /// Open with synthetic `ADDED` events for the current objects.
    initial: bool,
    /// End them with an `initial-events-end` bookmark (streaming lists).
    initial_end: bool,
    bookmarks: bool,
    timeout: Duration,
    as_table: bool,
}

async fn stream(
    state: AppState,
    filter: Filter,
    opts: Options,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let Options {
        from,
        initial,
        initial_end,
        bookmarks,
        timeout,
        as_table,
    } = opts;
    let rt = filter.rt;
    let render = |obj: &Value| {
        if as_table {
            let rv = meta::resource_version(obj);
            table::table(rt, &[Arc::new(obj.clone())], rv, "Metadata", None)
        } else {
            obj.clone()
        }
    };
    let bookmark = |rv: u64, end_of_initial: bool| {
        let mut md = json!({"resourceVersion": rv.to_string()});
        if end_of_initial {
            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": md}),
        )
    };
    let mut rv_rx = state.store.subscribe();
    let mut stop = state.stop.clone();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut cursor = match from {
        Some(rv) => rv,
        None => state.store.resource_version(),
    };
    if initial {
        let (items, rv) =
            state
                .store
                .list(rt, filter.ns.as_deref(), &filter.labels, &filter.fields);
        for obj in items {
            if tx.send(Ok(line("ADDED", render(&obj)))).await.is_err() {
                return;
            }
        }
        if from.is_none() || rv > cursor {
            cursor = rv;
        }
        if initial_end && tx.send(Ok(bookmark(cursor, true))).await.is_err() {
            return;
        }
    }
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + state.bookmark_interval,
        state.bookmark_interval,
    );
    loop {
        match state.store.changes_since(cursor) {
            Err(floor) => {
                let e = ApiError::expired(format!("too old resource version: {cursor} ({floor})"));
                let _ = tx.send(Ok(line("ERROR", e.to_status()))).await;
                return;
            }
            Ok(changes) => {
                for c in changes {
                    cursor = c.rv;
                    if let Some((kind, object)) = filter.event(&c) {
                        if tx.send(Ok(line(kind, render(&object)))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        tokio::select! {
            changed = rv_rx.changed() => if changed.is_err() { return },
            _ = tick.tick(), if bookmarks => {
                if tx.send(Ok(bookmark(cursor, false))).await.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep_until(deadline) => return,
            () = crate::controller::stopped(&mut stop) => return,
            () = tx.closed() => return,
        }
    }
}
