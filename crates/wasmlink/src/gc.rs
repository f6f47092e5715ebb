//! Drops functions nothing can reach. `--export-dynamic` libraries export every symbol; once
//! the output keeps only a few exports, most of those are dead weight the engine would compile.
//! Roots: kept exports, `_initialize`'s and the start function's callees, every table element
//! (an address-taken function can be called indirectly) and `ref.func` in global initialisers.

use wasmparser::{ElementItems, ExternalKind, Operator};

use crate::LinkError;
use crate::input::Module;
use crate::resolve::Plan;

/// Marks a function index removed by [`renumber`].
pub(crate) const DEAD: u32 = u32::MAX;

/// Every output function (in the plan's index space) reachable from the roots.
pub(crate) fn live(
    mods: &[Module<'_>],
    plan: &Plan<'_>,
    keep_exports: &[String],
) -> Result<Vec<bool>, LinkError> {
    let n = plan.num_funcs as usize;
    let perr = |m: &Module<'_>, source| LinkError::Parse {
        input: m.name.to_string(),
        source,
    };
    let mut roots: Vec<u32> = Vec::new();
    roots.push(plan.init_func);
    roots.extend(&plan.init_calls);
    if let Some((idx, calls)) = &plan.start {
        roots.push(*idx);
        roots.extend(calls);
    }
    roots.extend(&plan.got_func_slots);
    // Kept imports stay (the host provides them anyway).
    roots.extend(0..plan.kept_funcs.len() as u32);
    for (m, p) in mods.iter().zip(&plan.modules) {
        let map = |f: u32| p.func_map.get(f as usize).copied();
        for name in keep_exports {
            if let Some(e) = m
                .exports
                .iter()
                .find(|e| e.name == name && e.kind == ExternalKind::Func)
            {
                roots.extend(map(e.index));
            }
        }
        for e in &m.elements {
            match &e.items {
                ElementItems::Functions(r) => {
                    for f in r.clone() {
                        roots.extend(map(f.map_err(|s| perr(m, s))?));
                    }
                }
                ElementItems::Expressions(_, r) => {
                    for expr in r.clone() {
                        let expr = expr.map_err(|s| perr(m, s))?;
                        for op in expr.get_operators_reader() {
                            if let Operator::RefFunc { function_index } =
                                op.map_err(|s| perr(m, s))?
                            {
                                roots.extend(map(function_index));
                            }
                        }
                    }
                }
            }
        }
        for (_, init) in &m.globals {
            for op in init.get_operators_reader() {
                if let Operator::RefFunc { function_index } = op.map_err(|s| perr(m, s))? {
                    roots.extend(map(function_index));
                }
            }
        }
    }

    // Owner of each output function: (module, body index), for defined functions only.
    let mut owner: Vec<Option<(usize, usize)>> = vec![None; n];
    for (mi, (m, p)) in mods.iter().zip(&plan.modules).enumerate() {
        for i in 0..m.funcs.len() {
            owner[(p.func_base as usize) + i] = Some((mi, i));
        }
    }

    let mut live = vec![false; n];
    let mut stack = roots;
    while let Some(f) = stack.pop() {
        let Some(slot) = live.get_mut(f as usize) else {
            continue;
        };
        if *slot {
            continue;
        }
        *slot = true;
        let Some((mi, bi)) = owner[f as usize] else {
            continue;
        };
        let (m, p) = (&mods[mi], &plan.modules[mi]);
        let mut ops = m.bodies[bi]
            .get_operators_reader()
            .map_err(|s| perr(m, s))?;
        while !ops.eof() {
            match ops.read().map_err(|s| perr(m, s))? {
                Operator::Call { function_index }
                | Operator::ReturnCall { function_index }
                | Operator::RefFunc { function_index } => {
                    stack.extend(p.func_map.get(function_index as usize).copied());
                }
                _ => {}
            }
        }
    }
    Ok(live)
}

/// Old index → new index (or [`DEAD`]), packing the live functions in order.
pub(crate) fn renumber(live: &[bool]) -> Vec<u32> {
    let mut next = 0;
    live.iter()
        .map(|&l| {
            if l {
                next += 1;
                next - 1
            } else {
                DEAD
            }
        })
        .collect()
}
