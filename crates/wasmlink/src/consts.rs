//! Constant values: what the linker turns imported bases, GOT entries and immutable globals
//! into, and a small evaluator for the (extended-)constant expressions that compute them.

use wasm_encoder::{ConstExpr as OutExpr, Ieee32, Ieee64, Instruction};
use wasmparser::{ConstExpr, Operator};

/// A numeric constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConstVal {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
}

impl ConstVal {
    pub fn instruction(self) -> Instruction<'static> {
        match self {
            ConstVal::I32(v) => Instruction::I32Const(v),
            ConstVal::I64(v) => Instruction::I64Const(v),
            ConstVal::F32(v) => Instruction::F32Const(Ieee32::new(v)),
            ConstVal::F64(v) => Instruction::F64Const(Ieee64::new(v)),
        }
    }

    pub fn expr(self) -> OutExpr {
        match self {
            ConstVal::I32(v) => OutExpr::i32_const(v),
            ConstVal::I64(v) => OutExpr::i64_const(v),
            ConstVal::F32(v) => OutExpr::f32_const(Ieee32::new(v)),
            ConstVal::F64(v) => OutExpr::f64_const(Ieee64::new(v)),
        }
    }

    pub fn as_u32(self) -> Option<u32> {
        match self {
            ConstVal::I32(v) => Some(v as u32),
            _ => None,
        }
    }
}

/// Evaluate a constant expression whose `global.get`s `global` can answer. `None` when it
/// reads a global that is not a constant, or uses an operator this evaluator does not know
/// (`ref.func`, `ref.null`, vectors): the caller then keeps the expression as code.
pub(crate) fn eval(
    expr: &ConstExpr<'_>,
    mut global: impl FnMut(u32) -> Option<ConstVal>,
) -> Option<ConstVal> {
    let mut stack: Vec<ConstVal> = Vec::new();
    for op in expr.get_operators_reader() {
        let v = match op.ok()? {
            Operator::I32Const { value } => ConstVal::I32(value),
            Operator::I64Const { value } => ConstVal::I64(value),
            Operator::F32Const { value } => ConstVal::F32(value.bits()),
            Operator::F64Const { value } => ConstVal::F64(value.bits()),
            Operator::GlobalGet { global_index } => global(global_index)?,
            Operator::End => break,
            op => {
                let b = stack.pop()?;
                let a = stack.pop()?;
                match (op, a, b) {
                    (Operator::I32Add, ConstVal::I32(a), ConstVal::I32(b)) => {
                        ConstVal::I32(a.wrapping_add(b))
                    }
                    (Operator::I32Sub, ConstVal::I32(a), ConstVal::I32(b)) => {
                        ConstVal::I32(a.wrapping_sub(b))
                    }
                    (Operator::I32Mul, ConstVal::I32(a), ConstVal::I32(b)) => {
                        ConstVal::I32(a.wrapping_mul(b))
                    }
                    (Operator::I64Add, ConstVal::I64(a), ConstVal::I64(b)) => {
                        ConstVal::I64(a.wrapping_add(b))
                    }
                    (Operator::I64Sub, ConstVal::I64(a), ConstVal::I64(b)) => {
                        ConstVal::I64(a.wrapping_sub(b))
                    }
                    (Operator::I64Mul, ConstVal::I64(a), ConstVal::I64(b)) => {
                        ConstVal::I64(a.wrapping_mul(b))
                    }
                    _ => return None,
                }
            }
        };
        stack.push(v);
    }
    match stack[..] {
        [v] => Some(v),
        _ => None,
    }
}
