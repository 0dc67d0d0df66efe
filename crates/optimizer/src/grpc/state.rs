//! The stored system of stateful mode: upserts, lookups and removals by name. Every operation
//! runs under the service's lock, so concurrent calls see each other whole.

use inferno_api::{
    AcceleratorCount, AcceleratorSpec, ModelAcceleratorPerfData, ModelTarget, ServerSpec,
    ServiceClassSpec, SystemSpec,
};
use tonic::Status;

/// Replaces the item with the same key, or appends it.
pub(crate) fn upsert<T: Clone>(items: &mut Vec<T>, item: T, same: impl Fn(&T) -> bool) -> T {
    match items.iter_mut().find(|x| same(x)) {
        Some(slot) => *slot = item.clone(),
        None => items.push(item.clone()),
    }
    item
}

/// Removes every item matching; NOT_FOUND naming `what` when none does.
pub(crate) fn remove<T>(
    items: &mut Vec<T>,
    what: &str,
    matches: impl Fn(&T) -> bool,
) -> Result<Vec<T>, Status> {
    let (gone, kept): (Vec<T>, Vec<T>) =
        std::mem::take(items).into_iter().partition(|x| matches(x));
    *items = kept;
    if gone.is_empty() {
        return Err(Status::not_found(format!("{what} not found")));
    }
    Ok(gone)
}

/// The items matching a name filter (empty = all); NOT_FOUND when a named one is missing.
pub(crate) fn select<T: Clone>(
    items: &[T],
    name: &str,
    what: &str,
    key: impl Fn(&T) -> &str,
) -> Result<Vec<T>, Status> {
    if name.is_empty() {
        return Ok(items.to_vec());
    }
    let found: Vec<T> = items.iter().filter(|x| key(x) == name).cloned().collect();
    if found.is_empty() {
        return Err(Status::not_found(format!("{what} {name:?} not found")));
    }
    Ok(found)
}

pub(crate) fn add_accelerator(s: &mut SystemSpec, a: AcceleratorSpec) -> AcceleratorSpec {
    let name = a.name.clone();
    upsert(&mut s.accelerator_data.accelerators, a, |x| x.name == name)
}

pub(crate) fn set_capacity(s: &mut SystemSpec, c: AcceleratorCount) -> AcceleratorCount {
    let t = c.acc_type.clone();
    upsert(&mut s.capacity_data.count, c, |x| x.acc_type == t)
}

pub(crate) fn add_perf(
    s: &mut SystemSpec,
    m: ModelAcceleratorPerfData,
) -> ModelAcceleratorPerfData {
    let (name, acc) = (m.name.clone(), m.acc.clone());
    upsert(&mut s.model_data.models, m, |x| {
        x.name == name && x.acc == acc
    })
}

pub(crate) fn add_class(s: &mut SystemSpec, c: ServiceClassSpec) -> ServiceClassSpec {
    let name = c.name.clone();
    upsert(&mut s.service_class_data.service_classes, c, |x| {
        x.name == name
    })
}

pub(crate) fn add_class_target(
    s: &mut SystemSpec,
    class: &str,
    t: ModelTarget,
) -> Result<ServiceClassSpec, Status> {
    let c = s
        .service_class_data
        .service_classes
        .iter_mut()
        .find(|c| c.name == class)
        .ok_or_else(|| Status::not_found(format!("service class {class:?} not found")))?;
    let model = t.model.clone();
    upsert(&mut c.model_targets, t, |x| x.model == model);
    Ok(c.clone())
}

pub(crate) fn remove_class(
    s: &mut SystemSpec,
    class: &str,
    model: &str,
) -> Result<ServiceClassSpec, Status> {
    if model.is_empty() {
        let mut gone = remove(
            &mut s.service_class_data.service_classes,
            &format!("service class {class:?}"),
            |c| c.name == class,
        )?;
        return Ok(gone.remove(0));
    }
    let c = s
        .service_class_data
        .service_classes
        .iter_mut()
        .find(|c| c.name == class)
        .ok_or_else(|| Status::not_found(format!("service class {class:?} not found")))?;
    remove(
        &mut c.model_targets,
        &format!("target of model {model:?} in class {class:?}"),
        |t| t.model == model,
    )?;
    Ok(c.clone())
}

pub(crate) fn add_server(s: &mut SystemSpec, server: ServerSpec) -> ServerSpec {
    let name = server.name.clone();
    upsert(&mut s.server_data.servers, server, |x| x.name == name)
}

/// The current allocation of every server decided by the last Optimize becomes its desired
/// one (load included), as the reference's applyAllocation does. Servers the last Optimize
/// could not place keep their current allocation (the reference blanked it, load and all).
pub(crate) fn apply_allocation(s: &mut SystemSpec, decided: &std::collections::HashSet<String>) {
    for server in &mut s.server_data.servers {
        if decided.contains(&server.name) {
            server.current_alloc = server.desired_alloc.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_replaces_by_key() {
        let mut s = SystemSpec::default();
        add_accelerator(
            &mut s,
            AcceleratorSpec {
                name: "A".into(),
                cost: 1.0,
                ..Default::default()
            },
        );
        add_accelerator(
            &mut s,
            AcceleratorSpec {
                name: "A".into(),
                cost: 2.0,
                ..Default::default()
            },
        );
        assert_eq!(s.accelerator_data.accelerators.len(), 1);
        assert_eq!(s.accelerator_data.accelerators[0].cost, 2.0);
        assert!(remove(
            &mut s.accelerator_data.accelerators,
            "accelerator \"B\"",
            |a| a.name == "B"
        )
        .is_err());
    }
}
