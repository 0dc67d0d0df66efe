//! `inferno-optimizer explain`: the decision with the reasons for it (docs/explain.md).

use super::table::Table;
use super::{CliError, ExplainArgs};
use crate::explain::{
    explain_cancellable, frontier, Alternative, Delta, Depth, Explanation, FrontierPoint, Summary,
    Switch,
};
use crate::solver::SolveOptions;
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;

pub(crate) fn run(args: &ExplainArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let spec = super::load_servers(&args.path, args.strict)?;
    let options = SolveOptions::from_spec(&spec).map_err(CliError::Input)?;
    if let Some(class) = &args.frontier {
        if !spec
            .service_class_data
            .service_classes
            .iter()
            .any(|c| &c.name == class)
        {
            return Err(CliError::Input(format!(
                "--frontier: no class {class:?} in {}",
                args.path.display()
            )));
        }
        let points = frontier(&spec, &options, class)?;
        if args.json {
            let v: Vec<Value> = points.iter().map(point).collect();
            serde_json::to_writer_pretty(&mut *out, &json!({"class": class, "points": v}))
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        } else {
            write_frontier(class, &points, out)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let depth = if args.brief {
        Depth::Brief
    } else {
        Depth::Full
    };
    let mut e = explain_cancellable(&spec, &options, depth, &crate::Cancel::new())?;
    if let Some(name) = &args.server {
        e.servers.retain(|s| &s.name == name);
        if e.servers.is_empty() {
            return Err(CliError::Input(format!(
                "--server: no server {name:?} in {}",
                args.path.display()
            )));
        }
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &to_json(&e)).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        write_text(&e, out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn summary(s: &Summary) -> Value {
    json!({"cost": s.cost, "served": s.served, "notServed": s.not_served, "units": s.units})
}

fn delta(d: &Delta) -> Value {
    json!({"cost": d.cost, "served": d.served, "objective": d.objective})
}

fn alternative(a: &Alternative) -> Value {
    json!({
        "accelerator": a.accelerator, "acceleratorType": a.accelerator_type,
        "replicas": a.replicas, "batch": a.batch, "cost": a.cost, "value": a.value,
        "ttft": a.ttft, "itl": a.itl, "binds": a.binds,
    })
}

fn point(p: &FrontierPoint) -> Value {
    json!({"scale": p.scale, "cost": p.cost, "served": p.served, "units": p.units})
}

fn switch(s: &Switch) -> Value {
    let side = |x: &Option<(f64, String)>| {
        x.as_ref()
            .map(|(scale, t)| json!({"scale": scale, "type": t}))
    };
    json!({"cheapest": s.now, "tighter": side(&s.tighter), "looser": side(&s.looser)})
}

fn write_frontier(
    class: &str,
    points: &[FrontierPoint],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    writeln!(
        out,
        "class {class}: its servers' cost with capacities ignored, every TTFT and ITL target scaled"
    )?;
    let types: std::collections::BTreeSet<&String> =
        points.iter().flat_map(|p| p.units.keys()).collect();
    let mut header = vec!["scale", "cost", "served"];
    header.extend(types.iter().map(|t| t.as_str()));
    let mut t = Table::new(&header, 0);
    for p in points {
        let mut row = vec![
            format!("{:.2}", p.scale),
            money(p.cost),
            p.served.to_string(),
        ];
        row.extend(
            types
                .iter()
                .map(|ty| p.units.get(*ty).copied().unwrap_or(0).to_string()),
        );
        t.row(row);
    }
    write!(out, "{}", t.render())?;
    Ok(())
}

fn to_json(e: &Explanation) -> Value {
    json!({
        "decision": summary(&e.decision),
        "lowerBound": summary(&e.lower_bound),
        "pricedBy": e.priced_by,
        "types": e.types.iter().map(|t| json!({
            "name": t.name, "capacity": t.capacity, "used": t.used,
            "unlimitedUse": t.unlimited_use, "binding": t.binding,
            "oneMore": t.one_more.as_ref().map(delta), "oneLess": t.one_less.as_ref().map(delta),
            "dualPrice": t.dual_price,
            "clearsBetween": t.clears_between.map(|(lo, hi)| json!([lo, hi])),
        })).collect::<Vec<_>>(),
        "classes": e.classes.iter().map(|c| json!({
            "name": c.name, "priority": c.priority, "cost": c.cost, "looserCost": c.looser_cost,
        })).collect::<Vec<_>>(),
        "servers": e.servers.iter().map(|s| json!({
            "name": s.name, "class": s.class, "priority": s.priority,
            "demandRpm": s.demand_rpm, "chosen": s.chosen.as_ref().map(alternative),
            "bestEffort": s.best_effort,
            "alternatives": s.alternatives.iter().map(alternative).collect::<Vec<_>>(),
            "margin": s.margin, "headroomRpm": s.headroom_rpm, "unplaced": s.unplaced,
            "switch": s.switch.as_ref().map(switch),
        })).collect::<Vec<_>>(),
    })
}

fn money(v: f64) -> String {
    format!("{v:.2}")
}

fn change(d: &Delta) -> String {
    let served = match d.served {
        0 => String::new(),
        n => format!(", {n:+} served"),
    };
    format!("{:+.2}{served}", d.cost)
}

fn write_text(e: &Explanation, out: &mut dyn Write) -> Result<(), CliError> {
    let (d, b) = (&e.decision, &e.lower_bound);
    writeln!(
        out,
        "decision: {} cents/hr, {} servers served, {} not fully served",
        money(d.cost),
        d.served,
        d.not_served
    )?;
    if b.served > d.served {
        writeln!(
            out,
            "lower bound (capacities ignored): {} cents/hr, {} served; the capacities leave {} \
             servers not fully served",
            money(b.cost),
            b.served,
            b.served - d.served
        )?;
    } else {
        writeln!(
            out,
            "lower bound (capacities ignored): {} cents/hr, {} served; the capacities cost {} \
             cents/hr",
            money(b.cost),
            b.served,
            money(d.cost - b.cost)
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "GPU types (one unit more / less: change of the answer, cents/hr; priced by {}):",
        e.priced_by
    )?;
    let mut t = Table::new(
        &[
            "type",
            "binding",
            "capacity",
            "used",
            "unlimited",
            "one more",
            "one less",
            "LP price",
            "holds for",
        ],
        2,
    );
    for x in &e.types {
        t.row(vec![
            x.name.clone(),
            if x.binding { "yes" } else { "" }.to_string(),
            x.capacity.to_string(),
            x.used.to_string(),
            x.unlimited_use.to_string(),
            x.one_more.as_ref().map_or("-".into(), change),
            x.one_less.as_ref().map_or("-".into(), change),
            x.dual_price.map_or("-".into(), money),
            x.clears_between.map_or("-".into(), |(lo, hi)| match hi {
                Some(hi) => format!("{lo:.0}..{hi:.0}"),
                None => format!("{lo:.0}.."),
            }),
        ]);
    }
    write!(out, "{}", t.render())?;
    writeln!(out)?;
    writeln!(
        out,
        "classes (their servers' cost with capacities ignored, at the targets and with every \
         TTFT and ITL target {:.0}% looser):",
        (crate::explain::LOOSER - 1.0) * 100.0
    )?;
    let mut t = Table::new(
        &["class", "priority", "cost", "looser", "the targets cost"],
        1,
    );
    for c in &e.classes {
        t.row(vec![
            c.name.clone(),
            c.priority.to_string(),
            money(c.cost),
            money(c.looser_cost),
            money(c.cost - c.looser_cost),
        ]);
    }
    write!(out, "{}", t.render())?;
    for s in &e.servers {
        writeln!(out)?;
        writeln!(
            out,
            "{} ({}, priority {}, {:.1} rpm):",
            s.name, s.class, s.priority, s.demand_rpm
        )?;
        if let Some(reason) = &s.unplaced {
            writeln!(out, "  not placed: {reason}")?;
        }
        let mut t = Table::new(
            &[
                "",
                "accelerator",
                "type",
                "replicas",
                "batch",
                "cost",
                "TTFT ms",
                "ITL ms",
                "binds",
            ],
            3,
        );
        let mut row = |label: &str, a: &Alternative| {
            t.row(vec![
                label.to_string(),
                a.accelerator.clone(),
                a.accelerator_type.clone(),
                a.replicas.to_string(),
                a.batch.to_string(),
                money(a.cost),
                format!("{:.1}", a.ttft),
                format!("{:.2}", a.itl),
                a.binds.to_string(),
            ]);
        };
        if let Some(c) = &s.chosen {
            row(
                if s.best_effort {
                    "best effort"
                } else {
                    "chosen"
                },
                c,
            );
        }
        for a in &s.alternatives {
            row("", a);
        }
        write!(out, "{}", t.render())?;
        let cheapest = s
            .alternatives
            .iter()
            .min_by(|a, b| a.cost.total_cmp(&b.cost));
        match (s.margin, cheapest) {
            (Some(m), Some(a)) if m >= 0.0 => writeln!(
                out,
                "  margin: the cheapest other type ({}) costs {} cents/hr more",
                a.accelerator_type,
                money(m)
            )?,
            (Some(m), Some(a)) => writeln!(
                out,
                "  margin: {} would cost {} cents/hr less; its units went to others",
                a.accelerator_type,
                money(-m)
            )?,
            _ => {}
        }
        if let Some(w) = &s.switch {
            let side = |x: &Option<(f64, String)>, how: &str| match x {
                Some((scale, t)) => format!("{t} at targets x{scale:.2}"),
                None => format!("none {how}"),
            };
            writeln!(
                out,
                "  cheapest type with capacities ignored: {}; another wins tighter: {}; looser: {}",
                w.now,
                side(&w.tighter, "down to x0.25"),
                side(&w.looser, "up to x4")
            )?;
        }
        if let Some(h) = s.headroom_rpm {
            writeln!(
                out,
                "  headroom: {h:.1} rpm more before one more replica is needed"
            )?;
        }
    }
    Ok(())
}
