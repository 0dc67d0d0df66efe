//! Local search on a feasible single-mode allocation: move a server to a better choice, making
//! room when needed by moving (or, if it is less important, unserving) the one server holding
//! the type whose move costs least. Every move lowers the objective and keeps the capacities.

use super::{Assignment, Problem};
use crate::cancel::Cancel;
use std::time::Instant;

/// Helpers a move weighs, at most (the cheapest to move first), and servers on the type it
/// looks through to find them.
const HELPERS: usize = 16;
const SCANNED: usize = 64;

/// What one server's current state is worth and takes.
struct Held {
    choice: Option<usize>,
    value: f64,
}

/// Improves `a` in place until no move helps, `rounds` passes are done, `deadline` passes or
/// `cancel` is raised.
pub(super) fn polish(
    p: &Problem,
    a: &mut Assignment,
    penalties: &[f64],
    rounds: usize,
    deadline: Option<Instant>,
    cancel: &Cancel,
) {
    let n = p.servers.len();
    let held = |a: &Assignment, s: usize| -> Held {
        match a[s].first() {
            Some(&(c, _)) => Held {
                choice: Some(c),
                value: p.servers[s].choices[c].value,
            },
            None => Held {
                choice: None,
                value: penalties[p.servers[s].level],
            },
        }
    };
    // Each server's current choice and its type, flat: the helper scans read them for dozens
    // of servers per move, and a read through `a` and the server's choices is two cache
    // misses each. Kept in step with `a` by `apply`.
    let mut now: Vec<Now> = (0..n)
        .map(|s| Now::of(p, s, a[s].first().map(|x| x.0)))
        .collect();
    let units = |s: usize, c: usize| i128::from(p.servers[s].choices[c].units());
    let ty = |s: usize, c: usize| p.servers[s].choices[c].ty;
    let mut left: Vec<i128> = p
        .capacity
        .iter()
        .map(|c| c.map_or(i128::MAX / 4, i128::from))
        .collect();
    for s in 0..n {
        if let Some(c) = held(a, s).choice {
            left[ty(s, c)] -= units(s, c);
        }
    }
    let eps = 1e-9;
    // The least a server can be worth off its current choice (unserved included): a helper t
    // moving off its choice worth vt changes the objective by no less than that minus vt, so a
    // helper for which gain + that >= 0 cannot make a move pay, and its choices need no look.
    // Per server: its least value with the choice that has it, and its second least.
    let floors: Vec<(f64, Option<usize>, f64)> = p
        .servers
        .iter()
        .map(|s| {
            let (mut least, mut at, mut second) = (penalties[s.level], None, f64::INFINITY);
            for (c, choice) in s.choices.iter().enumerate() {
                if choice.value < least {
                    (second, least, at) = (least, choice.value, Some(c));
                } else if choice.value < second {
                    second = choice.value;
                }
            }
            (least, at, second)
        })
        .collect();
    let floor = |t: usize, ct: usize| {
        let (least, at, second) = floors[t];
        if at == Some(ct) {
            second
        } else {
            least
        }
    };
    for _ in 0..rounds {
        // Helpers per type, cheapest to move first (by what their best other choice that fits
        // now, or being unserved, costs them): each move looks at the first HELPERS that free
        // enough, which keeps a pass linear in the servers on large systems.
        let mut on_type: Vec<Vec<(f64, usize)>> = vec![Vec::new(); p.capacity.len()];
        for s in 0..n {
            if let Some(c) = held(a, s).choice {
                let server = &p.servers[s];
                let v = server.choices[c].value;
                let away = (0..server.choices.len())
                    .filter(|&c2| c2 != c && left[ty(s, c2)] >= units(s, c2))
                    .map(|c2| server.choices[c2].value)
                    .fold(penalties[server.level], f64::min);
                on_type[ty(s, c)].push((away - v, s));
            }
        }
        for list in &mut on_type {
            list.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        }
        let mut improved = false;
        for s in 0..n {
            if deadline.is_some_and(|d| Instant::now() >= d) || cancel.is_cancelled() {
                return;
            }
            let hs = held(a, s);
            let mut better: Vec<usize> = (0..p.servers[s].choices.len())
                .filter(|&c| p.servers[s].choices[c].value < hs.value - eps)
                .collect();
            better.sort_by(|&x, &y| {
                p.servers[s].choices[x]
                    .value
                    .total_cmp(&p.servers[s].choices[y].value)
            });
            // Units s gives back on each type if it moves.
            let freed = |k: usize| match hs.choice {
                Some(c) if ty(s, c) == k => units(s, c),
                _ => 0,
            };
            for c in better {
                let k = ty(s, c);
                let room = left[k] + freed(k);
                let gain = p.servers[s].choices[c].value - hs.value;
                if room >= units(s, c) {
                    apply(&mut left, a, &mut now, p, s, hs.choice, Some(c));
                    improved = true;
                    break;
                }
                let deficit = units(s, c) - room;
                // The best single helper: a server on type k moving elsewhere (or out).
                let mut best: Option<(usize, Option<usize>, f64)> = None;
                let mut looked = 0;
                for &(_, t) in on_type[k].iter().take(SCANNED) {
                    if looked >= HELPERS {
                        break;
                    }
                    let Now {
                        choice: ct,
                        ty: kt,
                        units: ut,
                        value: vt,
                    } = now[t];
                    if ct == NONE || t == s || kt != k || ut < deficit {
                        continue;
                    }
                    looked += 1;
                    if gain + floor(t, ct) - vt >= -eps {
                        continue;
                    }
                    let mut consider = |to: Option<usize>, cost: f64| {
                        let delta = gain + cost - vt;
                        if delta < -eps && best.as_ref().is_none_or(|b| delta < b.2) {
                            best = Some((t, to, delta));
                        }
                    };
                    consider(None, penalties[p.servers[t].level]);
                    for c2 in 0..p.servers[t].choices.len() {
                        let k2 = ty(t, c2);
                        let u2 = units(t, c2);
                        let fits = if k2 == k {
                            ut - u2 >= deficit
                        } else {
                            left[k2] + freed(k2) >= u2
                        };
                        if fits && c2 != ct {
                            consider(Some(c2), p.servers[t].choices[c2].value);
                        }
                    }
                }
                if let Some((t, to, _)) = best {
                    let ct = a[t].first().map(|x| x.0);
                    apply(&mut left, a, &mut now, p, t, ct, to);
                    apply(&mut left, a, &mut now, p, s, hs.choice, Some(c));
                    debug_assert!(left.iter().all(|&l| l >= 0));
                    improved = true;
                    break;
                }
            }
        }
        if !improved {
            break;
        }
    }
}

/// No choice (an unserved server's entry in the flat mirror of `a`).
const NONE: usize = usize::MAX;

/// A server's current choice (or [`NONE`]), its type, units and value.
#[derive(Clone, Copy)]
struct Now {
    choice: usize,
    ty: usize,
    units: i128,
    value: f64,
}

impl Now {
    fn of(p: &Problem, s: usize, choice: Option<usize>) -> Self {
        match choice {
            Some(c) => {
                let c2 = &p.servers[s].choices[c];
                Now {
                    choice: c,
                    ty: c2.ty,
                    units: i128::from(c2.units()),
                    value: c2.value,
                }
            }
            None => Now {
                choice: NONE,
                ty: NONE,
                units: 0,
                value: 0.0,
            },
        }
    }
}

fn apply(
    left: &mut [i128],
    a: &mut Assignment,
    now: &mut [Now],
    p: &Problem,
    s: usize,
    from: Option<usize>,
    to: Option<usize>,
) {
    let server = &p.servers[s];
    if let Some(c) = from {
        left[server.choices[c].ty] += i128::from(server.choices[c].units());
    }
    now[s] = Now::of(p, s, to);
    a[s] = match to {
        Some(c) => {
            left[server.choices[c].ty] -= i128::from(server.choices[c].units());
            vec![(c, server.choices[c].replicas)]
        }
        None => Vec::new(),
    };
}
