//! The object store: every object as a `serde_json::Value` (unknown fields are kept exactly, as
//! a real API server keeps them), one global resourceVersion counter, and a bounded history of
//! changes that watches replay from.
//!
//! All writes go through one mutex, so a write sees the latest state and preconditions
//! (`metadata.resourceVersion`, uid) are checked atomically with the write. Graceful deletion
//! of pods and namespaces lives in `graceful`.

mod graceful;

pub(crate) use graceful::is_terminating;

use crate::error::ApiError;
use crate::events_v1 as view;
use crate::meta;
use crate::patch::{self, PatchType};
use crate::resource::{self, ResourceType, NAMESPACES, PODS};
use crate::selector::{FieldSelector, LabelSelector};
use crate::validate;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Created.
    Added,
    /// Updated, patched or status-updated.
    Modified,
    /// Deleted.
    Deleted,
}

impl ChangeType {
    /// The watch event type (`ADDED`, `MODIFIED`, `DELETED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One recorded change; watches replay these.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// The type of the object.
    pub resource: &'static ResourceType,
    /// What happened.
    pub kind: ChangeType,
    /// The object after the change (for deletions: the last state, at the deletion's
    /// resourceVersion).
    pub object: Arc<Value>,
    /// The object before a modification.
    pub previous: Option<Arc<Value>>,
}

/// Which part of an object a write targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// The object; `status` is kept as stored for types with a status subresource.
    Main,
    /// The `status` subresource: only `status` changes.
    Status,
}

/// How deletion treats dependents (objects whose ownerReferences name the deleted object).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Propagation {
    /// Delete dependents too (kubesim deletes them at once, as the garbage collector would).
    #[default]
    Background,
    /// Same as background here: dependents go first, then the owner.
    Foreground,
    /// Keep dependents, removing their owner references.
    Orphan,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// Dependents policy.
    pub propagation: Propagation,
    /// Precondition: the object's uid.
    pub uid: Option<String>,
    /// Precondition: the object's resourceVersion.
    pub resource_version: Option<String>,
    /// Validate only, change nothing.
    pub dry_run: bool,
    /// `gracePeriodSeconds` (pods, in cluster seconds): `Some(0)` removes a pod at once,
    /// `None` uses the pod's `spec.terminationGracePeriodSeconds`. Ignored when the store
    /// deletes immediately (see [`Store::new`]).
    pub grace_period_seconds: Option<i64>,
}

type Objects = BTreeMap<(String, String), Arc<Value>>;

struct Inner {
    rv: u64,
    objects: HashMap<(&'static str, &'static str), Objects>,
    history: VecDeque<Arc<Change>>,
    history_cap: usize,
    /// Changes at or below this resourceVersion may have been dropped from `history`.
    floor: u64,
    /// Pods and namespaces terminate gracefully instead of disappearing at once.
    graceful: bool,
    /// Cluster seconds per wall-clock second (for `deletionTimestamp`).
    time_scale: f64,
}

/// The in-memory object store shared by the HTTP handlers and the controller.
pub struct Store {
    inner: Mutex<Inner>,
    rv_tx: watch::Sender<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("resource_version", &self.resource_version())
            .finish_non_exhaustive()
    }
}

/// Where objects of `rt` are kept: types served in two versions share one map.
fn key(rt: &'static ResourceType) -> (&'static str, &'static str) {
    let rt = resource::storage(rt);
    (rt.group, rt.plural)
}

fn scope_ns<'a>(rt: &ResourceType, ns: &'a str) -> &'a str {
    if rt.namespaced {
        ns
    } else {
        ""
    }
}

impl Store {
    /// An empty store holding the namespaces every cluster has (`default`, `kube-system`,
    /// `kube-public`, `kube-node-lease`), keeping the last `history` changes for watches.
    /// Deletion is immediate: a store on its own has no kubelet to finish a graceful one; the
    /// server turns graceful termination on when its [`crate::Config`] asks for it.
    pub fn new(history: usize) -> Self {
        let (rv_tx, _) = watch::channel(0);
        let store = Self {
            inner: Mutex::new(Inner {
                rv: 0,
                objects: HashMap::new(),
                history: VecDeque::new(),
                history_cap: history.max(1),
                floor: 0,
                graceful: false,
                time_scale: 1.0,
            }),
            rv_tx,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            store
                .create(&NAMESPACES, "", json!({"metadata": {"name": ns}}), false)
                .expect("built-in namespaces are valid");
        }
        store
    }

    /// Turns graceful termination of pods and namespaces on or off; `time_scale` (cluster
    /// seconds per wall second, > 0) places `deletionTimestamp` where the grace period ends.
    pub(crate) fn set_graceful_termination(&self, on: bool, time_scale: f64) {
        let mut inner = self.lock();
        inner.graceful = on;
        inner.time_scale = time_scale;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written object: writes are
        // single inserts. Keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// A receiver of the latest resourceVersion, notified after every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.rv_tx.subscribe()
    }

    /// The recorded changes after `rv`, oldest first; `Err(floor)` when some of them are no
    /// longer kept (the watch must fail with 410 Gone).
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Arc<Change>>, u64> {
        let inner = self.lock();
        if rv < inner.floor {
            return Err(inner.floor);
        }
        let start = inner.history.partition_point(|c| c.rv <= rv);
        Ok(inner.history.range(start..).cloned().collect())
    }

    /// One object.
    pub fn get(&self, rt: &'static ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.get_arc(rt, ns, name).map(|v| (*v).clone())
    }

    pub(crate) fn get_arc(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<Arc<Value>, ApiError> {
        let inner = self.lock();
        inner.get(rt, ns, name).map(|o| view::read(rt, o))
    }

    /// The objects of a type, in one namespace or (with `None`) all, that match both
    /// selectors, ordered by namespace and name; and the resourceVersion of the snapshot.
    pub fn list(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let items = match inner.objects.get(&key(rt)) {
            None => Vec::new(),
            Some(m) => {
                let ns = ns.filter(|_| rt.namespaced);
                m.iter()
                    .filter(|((o_ns, _), _)| ns.is_none_or(|n| n == o_ns))
                    .map(|(_, v)| view::read(rt, v.clone()))
                    .filter(|v| labels.matches(meta::labels(v)) && fields.matches(v))
                    .collect()
            }
        };
        (items, inner.rv)
    }

    /// Creates an object in namespace `ns` (ignored for cluster-scoped types): fills uid,
    /// resourceVersion, creationTimestamp, generation and defaults, names it from
    /// `generateName` when it has no name, and validates it.
    pub fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let obj = view::write(rt, ns, obj, None)?;
        let mut inner = self.lock();
        let out = inner.create(rt, ns, obj, dry_run)?;
        drop(inner);
        self.notify();
        Ok((*view::read(rt, out)).clone())
    }

    /// Replaces an object (PUT). A non-empty `metadata.resourceVersion` must equal the stored
    /// one (409 Conflict otherwise).
    pub fn update(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        obj: Value,
        sub: Subresource,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let old = inner.get(rt, ns, name)?;
        let obj = view::write(rt, ns, obj, Some(&old))?;
        let out = inner.commit(rt, ns, name, &old, obj, sub, dry_run)?;
        drop(inner);
        self.notify();
        Ok((*view::read(rt, out)).clone())
    }

    /// Changes an object atomically with `f`, then writes it as [`Store::update`] does (so a
    /// resourceVersion that `f` sets is a precondition).
    pub fn modify(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        sub: Subresource,
        dry_run: bool,
        f: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let old = inner.get(rt, ns, name)?;
        let mut new = (*view::read(rt, old.clone())).clone();
        f(&mut new)?;
        let new = view::write(rt, ns, new, Some(&old))?;
        let out = inner.commit(rt, ns, name, &old, new, sub, dry_run)?;
        drop(inner);
        self.notify();
        Ok((*view::read(rt, out)).clone())
    }

    /// Applies a patch of the given type. Server-side apply creates the object when missing.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        kind: PatchType,
        body: &Value,
        sub: Subresource,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let old = match inner.get(rt, ns, name) {
            Ok(old) => old,
            Err(e) if kind == PatchType::Apply && sub == Subresource::Main => {
                let mut obj = body.clone();
                if meta::name(&obj).is_empty() {
                    meta::metadata_mut(&mut obj).insert("name".into(), json!(name));
                }
                if meta::name(&obj) != name {
                    return Err(e);
                }
                let obj = view::write(rt, ns, obj, None)?;
                let out = inner.create(rt, ns, obj, dry_run)?;
                drop(inner);
                self.notify();
                return Ok((*view::read(rt, out)).clone());
            }
            Err(e) => return Err(e),
        };
        // A patch applies to the object as the request's version shows it.
        let mut new = (*view::read(rt, old.clone())).clone();
        apply_patch(&mut new, kind, body)?;
        let new = view::write(rt, ns, new, Some(&old))?;
        let out = inner.commit(rt, ns, name, &old, new, sub, dry_run)?;
        drop(inner);
        self.notify();
        Ok((*view::read(rt, out)).clone())
    }

    /// Deletes an object and (unless orphaning) its dependents; returns its last state. With
    /// graceful termination a Running pod is only marked (`deletionTimestamp`, Ready=False)
    /// and returned in that state, and a namespace whose pods are terminating stays
    /// `Terminating` until they are gone.
    pub fn delete(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let old = inner.get(rt, ns, name)?;
        let precondition_failed = opts.uid.as_deref().is_some_and(|u| u != meta::uid_of(&old))
            || opts
                .resource_version
                .as_deref()
                .is_some_and(|v| v != meta::meta_str(&old, "resourceVersion"));
        if precondition_failed {
            return Err(ApiError::conflict(rt, name));
        }
        if opts.dry_run {
            return Ok((*view::read(rt, old)).clone());
        }
        let out = inner.delete(rt, ns, name, opts.grace_period_seconds, opts.propagation);
        drop(inner);
        self.notify();
        Ok(view::read_value(rt, out))
    }

    /// Deletes every object of a type in `ns` (all namespaces with `None`) matching the
    /// selectors.
    pub fn delete_collection(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        opts: &DeleteOptions,
    ) -> Vec<Value> {
        let (items, _) = self.list(rt, ns, labels, fields);
        let mut out = Vec::new();
        for item in items {
            let (o_ns, o_name) = (meta::namespace(&item), meta::name(&item));
            if let Ok(v) = self.delete(rt, o_ns, o_name, opts) {
                out.push(v);
            }
        }
        out
    }

    /// Creates the object, or replaces the stored one of the same kind and name (what
    /// `--load` and `kubectl apply` amount to for a fresh object).
    pub fn create_or_replace(&self, obj: Value) -> Result<Value, ApiError> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let rt = resource::by_kind(api_version, kind).ok_or_else(|| {
            ApiError::bad_request(format!(
                "no kind {kind:?} is registered for version {api_version:?}"
            ))
        })?;
        let ns = match meta::namespace(&obj) {
            "" if rt.namespaced => "default".to_string(),
            ns => ns.to_string(),
        };
        let name = meta::name(&obj).to_string();
        match self.create(rt, &ns, obj.clone(), false) {
            Err(e) if e.reason == "AlreadyExists" => {
                let mut obj = obj;
                meta::metadata_mut(&mut obj).remove("resourceVersion");
                self.update(rt, &ns, &name, obj, Subresource::Main, false)
            }
            other => other,
        }
    }

    fn notify(&self) {
        let rv = self.lock().rv;
        self.rv_tx.send_if_modified(|cur| {
            let changed = *cur != rv;
            *cur = rv;
            changed
        });
    }
}

/// Applies a patch body of `kind` to `obj`.
pub(crate) fn apply_patch(obj: &mut Value, kind: PatchType, body: &Value) -> Result<(), ApiError> {
    match kind {
        // As the API server words it: a 422 with the patch library's message and no details.
        PatchType::Json => patch::json_patch(obj, body).map_err(|m| ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("jsonpatch {m}"),
            details: None,
        }),
        PatchType::Merge => {
            require_object(body)?;
            patch::merge_patch(obj, body);
            Ok(())
        }
        PatchType::Strategic | PatchType::Apply => {
            require_object(body)?;
            patch::strategic_merge(obj, body);
            Ok(())
        }
    }
}

fn require_object(body: &Value) -> Result<(), ApiError> {
    if body.is_object() {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "the body of the patch must be a JSON object",
        ))
    }
}

impl Inner {
    fn get(&self, rt: &'static ResourceType, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
        self.objects
            .get(&key(rt))
            .and_then(|m| m.get(&(scope_ns(rt, ns).to_string(), name.to_string())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// Keeps a change for watches, under the type that stores the object (watches of every
    /// version of it see the change).
    fn record(&mut self, mut change: Change) {
        change.resource = resource::storage(change.resource);
        self.history.push_back(Arc::new(change));
        while self.history.len() > self.history_cap {
            if let Some(c) = self.history.pop_front() {
                self.floor = c.rv;
            }
        }
    }

    fn create(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the object must be a JSON object"));
        }
        let ns = scope_ns(rt, ns).to_string();
        let md = meta::metadata_mut(&mut obj);
        if rt.namespaced {
            match md.get("namespace").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace \
                         sent on the request",
                    ))
                }
                _ => {
                    md.insert("namespace".into(), json!(ns));
                }
            }
        } else {
            md.remove("namespace");
        }
        if md
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            let Some(prefix) = md.get("generateName").and_then(Value::as_str) else {
                return Err(ApiError::invalid(
                    rt,
                    "",
                    &[crate::error::FieldError::required("metadata.name")],
                ));
            };
            let prefix = prefix.to_string();
            let taken = |n: &str| {
                self.objects
                    .get(&key(rt))
                    .is_some_and(|m| m.contains_key(&(ns.clone(), n.to_string())))
            };
            let mut name = format!("{prefix}{}", meta::random_suffix());
            while taken(&name) {
                name = format!("{prefix}{}", meta::random_suffix());
            }
            md.insert("name".into(), json!(name));
        }
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ] {
            md.remove(field);
        }
        md.insert("uid".into(), json!(meta::uid()));
        md.insert("creationTimestamp".into(), json!(meta::now()));
        if rt.generation {
            md.insert("generation".into(), json!(1));
        }
        obj["apiVersion"] = json!(resource::storage(rt).api_version());
        obj["kind"] = json!(rt.kind);
        if rt.status {
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        }
        validate::prepare(rt, &mut obj, None)?;
        let name = meta::name(&obj).to_string();
        if rt.namespaced {
            match self.get(&NAMESPACES, "", &ns) {
                Err(_) => return Err(ApiError::not_found(&NAMESPACES, &ns)),
                Ok(n) if graceful::is_terminating(&n) => {
                    return Err(ApiError::forbidden(
                        rt,
                        &name,
                        &format!(
                            "unable to create new content in namespace {ns} because it is being \
                             terminated"
                        ),
                    ))
                }
                Ok(_) => {}
            }
        }
        if self.get(rt, &ns, &name).is_ok() {
            return Err(ApiError::already_exists(rt, &name));
        }
        if dry_run {
            return Ok(Arc::new(obj));
        }
        self.rv += 1;
        let rv = self.rv;
        meta::metadata_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        let obj = Arc::new(obj);
        self.objects
            .entry(key(rt))
            .or_default()
            .insert((ns, name), obj.clone());
        self.record(Change {
            rv,
            resource: rt,
            kind: ChangeType::Added,
            object: obj.clone(),
            previous: None,
        });
        Ok(obj)
    }

    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        old: &Arc<Value>,
        mut new: Value,
        sub: Subresource,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        if !new.is_object() {
            return Err(ApiError::bad_request("the object must be a JSON object"));
        }
        let old_rv = meta::meta_str(old, "resourceVersion").to_string();
        let new_rv = meta::meta_str(&new, "resourceVersion");
        if !new_rv.is_empty() && new_rv != old_rv {
            return Err(ApiError::conflict(rt, name));
        }
        let new_uid = meta::uid_of(&new);
        if !new_uid.is_empty() && new_uid != meta::uid_of(old) {
            return Err(ApiError::conflict(rt, name));
        }
        let new_name = meta::name(&new);
        if !new_name.is_empty() && new_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({new_name}) does not match the name on the URL ({name})"
            )));
        }
        let new_ns = meta::namespace(&new);
        if rt.namespaced && !new_ns.is_empty() && new_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the \
                 request",
            ));
        }
        let mut new = match sub {
            Subresource::Status => {
                let mut merged = (**old).clone();
                merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
                if merged["status"].is_null() {
                    merged.as_object_mut().map(|o| o.remove("status"));
                }
                merged
            }
            Subresource::Main => {
                if rt.status {
                    match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            new.as_object_mut().map(|o| o.remove("status"));
                        }
                    }
                }
                // Server-owned metadata comes from the stored object.
                let old_md = meta::metadata(old).clone();
                let md = meta::metadata_mut(&mut new);
                for field in [
                    "uid",
                    "creationTimestamp",
                    "namespace",
                    "name",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                ] {
                    match old_md.get(field) {
                        Some(v) => md.insert(field.into(), v.clone()),
                        None => md.remove(field),
                    };
                }
                md.remove("managedFields");
                new["apiVersion"] = json!(resource::storage(rt).api_version());
                new["kind"] = json!(rt.kind);
                validate::prepare(rt, &mut new, Some(old))?;
                new
            }
        };
        if rt.generation {
            let gen = old["metadata"]["generation"].as_i64().unwrap_or(1);
            let gen = if new.get("spec") != old.get("spec") {
                gen + 1
            } else {
                gen
            };
            meta::metadata_mut(&mut new).insert("generation".into(), json!(gen));
        }
        meta::metadata_mut(&mut new).insert("resourceVersion".into(), json!(old_rv));
        if new == **old || dry_run {
            // A write that changes nothing keeps the resourceVersion and emits no event.
            return Ok(Arc::new(new));
        }
        Ok(self.put(rt, ns, name, old, new))
    }

    /// Stores `new` in place of `old` as the next resourceVersion, with no checks.
    fn put(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        old: &Arc<Value>,
        mut new: Value,
    ) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        meta::metadata_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        let new = Arc::new(new);
        self.objects.entry(key(rt)).or_default().insert(
            (scope_ns(rt, ns).to_string(), name.to_string()),
            new.clone(),
        );
        self.record(Change {
            rv,
            resource: rt,
            kind: ChangeType::Modified,
            object: new.clone(),
            previous: Some(old.clone()),
        });
        new
    }

    /// Deletes as the API server, the garbage collector and (for pods) the kubelet would:
    /// gracefully when the store is set so, else at once.
    fn delete(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        grace: Option<i64>,
        propagation: Propagation,
    ) -> Value {
        if self.graceful {
            if key(rt) == key(&PODS) {
                if let Some(terminating) = self.terminate_pod(ns, name, grace) {
                    return terminating;
                }
            } else if key(rt) == key(&NAMESPACES) {
                return self.delete_namespace(name);
            }
        }
        self.remove(rt, ns, name, propagation)
    }

    /// Removes an object now, deleting (or orphaning) its dependents first.
    fn remove(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        propagation: Propagation,
    ) -> Value {
        let ns = scope_ns(rt, ns).to_string();
        let Some(old) = self
            .objects
            .get_mut(&key(rt))
            .and_then(|m| m.remove(&(ns.clone(), name.to_string())))
        else {
            return Value::Null;
        };
        let uid = meta::uid_of(&old).to_string();
        // Dependents first, so that a watcher never sees an orphan of a deleted owner.
        let mut dependents = Vec::new();
        for (k, objects) in &self.objects {
            let Some(drt) = resource::ALL.iter().copied().find(|r| key(r) == *k) else {
                continue;
            };
            for ((d_ns, d_name), obj) in objects {
                let in_ns = rt.plural == "namespaces" && drt.namespaced && *d_ns == name;
                if in_ns || meta::owned_by(obj, &uid) {
                    dependents.push((drt, d_ns.clone(), d_name.clone(), in_ns));
                }
            }
        }
        for (drt, d_ns, d_name, in_ns) in dependents {
            if propagation == Propagation::Orphan && !in_ns {
                if let Ok(dep) = self.get(drt, &d_ns, &d_name) {
                    let mut new = (*dep).clone();
                    if let Some(refs) = new["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"] != uid.as_str());
                    }
                    let _ = self.commit(drt, &d_ns, &d_name, &dep, new, Subresource::Main, false);
                }
            } else {
                self.delete(drt, &d_ns, &d_name, None, propagation);
            }
        }
        self.rv += 1;
        let rv = self.rv;
        let mut last = (*old).clone();
        meta::metadata_mut(&mut last).insert("resourceVersion".into(), json!(rv.to_string()));
        self.record(Change {
            rv,
            resource: rt,
            kind: ChangeType::Deleted,
            object: Arc::new(last.clone()),
            previous: Some(old),
        });
        if rt.namespaced {
            self.finish_namespace(&ns);
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{CONFIGMAPS, DEPLOYMENTS, PODS, REPLICA_SETS};

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
               "data": {"k": "v"}})
    }

    #[test]
    fn create_get_update_conflict_delete() {
        let s = Store::new(100);
        let c = s.create(&CONFIGMAPS, "default", cm("a"), false).unwrap();
        assert_eq!(c["metadata"]["namespace"], "default");
        assert_eq!(c["metadata"]["uid"].as_str().unwrap().len(), 36);
        let rv = meta::resource_version(&c);
        assert_eq!(rv, s.resource_version());
        let e = s
            .create(&CONFIGMAPS, "default", cm("a"), false)
            .unwrap_err();
        assert_eq!((e.code, e.reason), (409, "AlreadyExists"));
        let e = s.create(&CONFIGMAPS, "nope", cm("a"), false).unwrap_err();
        assert_eq!(e.message, "namespaces \"nope\" not found");

        let mut stale = c.clone();
        stale["data"]["k"] = json!("w");
        s.update(
            &CONFIGMAPS,
            "default",
            "a",
            stale.clone(),
            Subresource::Main,
            false,
        )
        .unwrap();
        let e = s
            .update(&CONFIGMAPS, "default", "a", stale, Subresource::Main, false)
            .unwrap_err();
        assert_eq!((e.code, e.reason), (409, "Conflict"));

        // No-op writes keep the resourceVersion.
        let before = s.resource_version();
        let same = s.get(&CONFIGMAPS, "default", "a").unwrap();
        s.update(&CONFIGMAPS, "default", "a", same, Subresource::Main, false)
            .unwrap();
        assert_eq!(s.resource_version(), before);

        let gone = s
            .delete(&CONFIGMAPS, "default", "a", &DeleteOptions::default())
            .unwrap();
        assert_eq!(meta::resource_version(&gone), s.resource_version());
        assert_eq!(s.get(&CONFIGMAPS, "default", "a").unwrap_err().code, 404);
        let changes = s.changes_since(rv - 1).unwrap();
        let kinds: Vec<_> = changes.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [ChangeType::Added, ChangeType::Modified, ChangeType::Deleted]
        );
    }

    #[test]
    fn generate_name_and_history_floor() {
        let s = Store::new(3);
        let mut obj = cm("");
        obj["metadata"] = json!({"generateName": "x-"});
        let c = s.create(&CONFIGMAPS, "default", obj, false).unwrap();
        assert!(meta::name(&c).starts_with("x-") && meta::name(&c).len() == 7);
        for i in 0..5 {
            s.create(&CONFIGMAPS, "default", cm(&format!("c{i}")), false)
                .unwrap();
        }
        assert!(s.changes_since(1).is_err());
        assert_eq!(s.changes_since(s.resource_version() - 2).unwrap().len(), 2);
    }

    #[test]
    fn cascading_and_orphaning_delete() {
        let s = Store::new(100);
        let owner = s
            .create(&CONFIGMAPS, "default", cm("owner"), false)
            .unwrap();
        let uid = meta::uid_of(&owner).to_string();
        for name in ["d1", "d2"] {
            let mut d = cm(name);
            d["metadata"]["ownerReferences"] =
                json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]);
            s.create(&CONFIGMAPS, "default", d, false).unwrap();
        }
        let opts = DeleteOptions {
            propagation: Propagation::Orphan,
            ..Default::default()
        };
        s.delete(&CONFIGMAPS, "default", "owner", &opts).unwrap();
        let d1 = s.get(&CONFIGMAPS, "default", "d1").unwrap();
        assert_eq!(d1["metadata"]["ownerReferences"], json!([]));

        let owner = s
            .create(&CONFIGMAPS, "default", cm("owner"), false)
            .unwrap();
        let mut d = cm("d3");
        d["metadata"]["ownerReferences"] = json!([{"uid": meta::uid_of(&owner)}]);
        s.create(&CONFIGMAPS, "default", d, false).unwrap();
        s.delete(&CONFIGMAPS, "default", "owner", &DeleteOptions::default())
            .unwrap();
        assert!(s.get(&CONFIGMAPS, "default", "d3").is_err());

        s.create(&NAMESPACES, "", json!({"metadata": {"name": "tmp"}}), false)
            .unwrap();
        s.create(&CONFIGMAPS, "tmp", cm("in-tmp"), false).unwrap();
        s.delete(&NAMESPACES, "", "tmp", &DeleteOptions::default())
            .unwrap();
        assert!(s.get(&CONFIGMAPS, "tmp", "in-tmp").is_err());
    }

    #[test]
    fn status_and_generation() {
        let s = Store::new(100);
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
            "status": {"replicas": 7}});
        let d = s.create(&DEPLOYMENTS, "default", dep, false).unwrap();
        assert!(d.get("status").is_none());
        assert_eq!(d["metadata"]["generation"], 1);
        let d = s
            .patch(
                &DEPLOYMENTS,
                "default",
                "web",
                PatchType::Merge,
                &json!({"spec": {"replicas": 3}, "status": {"replicas": 9}}),
                Subresource::Main,
                false,
            )
            .unwrap();
        assert_eq!(d["metadata"]["generation"], 2);
        assert!(d.get("status").is_none());
        let d = s
            .patch(
                &DEPLOYMENTS,
                "default",
                "web",
                PatchType::Merge,
                &json!({"spec": {"replicas": 5}, "status": {"replicas": 3}}),
                Subresource::Status,
                false,
            )
            .unwrap();
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["status"]["replicas"], 3);
        assert_eq!(d["metadata"]["generation"], 2);
        let e = s
            .patch(
                &DEPLOYMENTS,
                "default",
                "web",
                PatchType::Merge,
                &json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}}),
                Subresource::Main,
                false,
            )
            .unwrap_err();
        assert_eq!(e.code, 409);
        let e = s
            .patch(
                &DEPLOYMENTS,
                "default",
                "web",
                PatchType::Json,
                &json!([{"op": "replace", "path": "/spec/replicas", "value": -1}]),
                Subresource::Main,
                false,
            )
            .unwrap_err();
        assert_eq!(e.code, 422);
        assert!(s.get(&REPLICA_SETS, "default", "x").is_err());
        let (pods, _) = s.list(&PODS, None, &Default::default(), &Default::default());
        assert!(pods.is_empty());
    }
}
