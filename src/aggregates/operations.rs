//! The operations of `/v1/aggregates` as a typed tree, read from the
//! nested lists upstream's schema leaves (`OperationsSchema`), with
//! upstream's dispatch order: aggregation operators, `clip`, binary,
//! unary, then `metric`.

use super::reduce::Reduction;
use super::Refusal;
use crate::carbonara::aggregate::Method;

/// The validated operations as the binding hands them over: nested lists
/// of words and numbers (a timespan as its nanoseconds).
#[derive(Debug, Clone, PartialEq)]
pub enum Tree {
    List(Vec<Tree>),
    Word(String),
    Float(f64),
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Equal,
    Less,
    Greater,
    LessEqual,
    GreaterEqual,
    NotEqual,
    Mod,
    Add,
    Sub,
    Mul,
    Div,
    ClipMin,
    ClipMax,
    Fmax,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    Abs,
    Neg,
    Cos,
    Sin,
    Floor,
    Ceil,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Number(f64),
    /// The grid's series whose lookup keys are listed.
    Metric(Vec<(String, String)>),
    Aggregate { reduction: Reduction, rate: bool, of: Box<Op> },
    Rolling { reduction: Reduction, rate: bool, window: usize, of: Box<Op> },
    Resample { method: Method, sampling: i64, of: Box<Op> },
    Binary(Binary, Box<Op>, Box<Op>),
    Clip(Box<Op>, Box<Op>, Option<Box<Op>>),
    Unary(Unary, Box<Op>),
    RateOfChange(Box<Op>),
    RateOfChangeSec(Box<Op>),
}

/// Upstream's operator tables; `None` for names upstream knows but whose
/// numpy arithmetic is not reproduced here (`**`: numpy's SIMD `pow`;
/// `tan`: its SIMD `tan` differs from libm in the last bit).
fn binary(name: &str) -> Option<Option<Binary>> {
    Some(Some(match name {
        "=" | "==" | "eq" => Binary::Equal,
        "<" | "lt" => Binary::Less,
        ">" | "gt" => Binary::Greater,
        "<=" | "≤" | "le" => Binary::LessEqual,
        ">=" | "≥" | "ge" => Binary::GreaterEqual,
        "!=" | "≠" | "ne" => Binary::NotEqual,
        "%" | "mod" => Binary::Mod,
        "+" | "add" => Binary::Add,
        "-" | "sub" => Binary::Sub,
        "*" | "×" | "mul" => Binary::Mul,
        "/" | "÷" | "div" => Binary::Div,
        "clip_min" => Binary::ClipMin,
        "clip_max" => Binary::ClipMax,
        "max" => Binary::Fmax,
        "**" | "^" | "pow" => return Some(None),
        _ => return None,
    }))
}

fn unary(name: &str) -> Option<Option<Unary>> {
    Some(Some(match name {
        "abs" | "absolute" => Unary::Abs,
        "neg" | "negative" => Unary::Neg,
        "cos" => Unary::Cos,
        "sin" => Unary::Sin,
        "floor" => Unary::Floor,
        "ceil" => Unary::Ceil,
        "tan" => return Some(None),
        _ => return None,
    }))
}

const UNSUPPORTED: Refusal = Refusal::Unsupported("an operation evaluated by upstream only");

impl Op {
    pub fn read(tree: &Tree) -> Result<Op, Refusal> {
        let nodes = match tree {
            Tree::Float(v) => return Ok(Op::Number(*v)),
            Tree::List(nodes) => nodes,
            _ => return Err(Refusal::Unsupported("a malformed operation")),
        };
        let name = match nodes.first() {
            Some(Tree::Word(name)) => name.as_str(),
            _ => return Err(Refusal::Unsupported("a malformed operation")),
        };
        let sub = |i: usize| -> Result<Box<Op>, Refusal> {
            nodes.get(i).ok_or(Refusal::Unsupported("a malformed operation")).and_then(Op::read).map(Box::new)
        };
        let word = |i: usize| match nodes.get(i) {
            Some(Tree::Word(w)) => Ok(w.as_str()),
            _ => Err(Refusal::Unsupported("a malformed operation")),
        };
        match name {
            "aggregate" if nodes.len() == 3 => {
                let (reduction, rate) = Reduction::parse(word(1)?).ok_or(UNSUPPORTED)?;
                Ok(Op::Aggregate { reduction, rate, of: sub(2)? })
            }
            "rolling" if nodes.len() == 4 => {
                let (reduction, rate) = Reduction::parse(word(1)?).ok_or(UNSUPPORTED)?;
                let window = match nodes[2] {
                    Tree::Int(w) if w >= 1 => w as usize,
                    _ => return Err(UNSUPPORTED),
                };
                Ok(Op::Rolling { reduction, rate, window, of: sub(3)? })
            }
            "resample" if nodes.len() == 4 => {
                let method = Method::parse(word(1)?).map_err(|_| UNSUPPORTED)?;
                let sampling = match nodes[2] {
                    Tree::Int(ns) => ns,
                    _ => return Err(UNSUPPORTED),
                };
                Ok(Op::Resample { method, sampling, of: sub(3)? })
            }
            "aggregate" | "rolling" | "resample" => Err(UNSUPPORTED),
            "clip" => match nodes.len() {
                3 => Ok(Op::Clip(sub(1)?, sub(2)?, None)),
                4 => Ok(Op::Clip(sub(1)?, sub(2)?, Some(sub(3)?))),
                _ => Err(UNSUPPORTED),
            },
            "rateofchange" | "rateofchangesec" if nodes.len() == 2 => {
                let of = sub(1)?;
                Ok(if name == "rateofchange" { Op::RateOfChange(of) } else { Op::RateOfChangeSec(of) })
            }
            "metric" => read_metric(&nodes[1..]),
            _ => {
                if let Some(op) = binary(name) {
                    if nodes.len() != 3 {
                        return Err(UNSUPPORTED);
                    }
                    Ok(Op::Binary(op.ok_or(UNSUPPORTED)?, sub(1)?, sub(2)?))
                } else if let Some(op) = unary(name) {
                    if nodes.len() != 2 {
                        return Err(UNSUPPORTED);
                    }
                    Ok(Op::Unary(op.ok_or(UNSUPPORTED)?, sub(1)?))
                } else {
                    Err(UNSUPPORTED)
                }
            }
        }
    }
}

/// `["metric", name, aggregation]` or `["metric", [name, aggregation], ...]`.
fn read_metric(args: &[Tree]) -> Result<Op, Refusal> {
    let pair = |t: &Tree| match t {
        Tree::List(p) => match p.as_slice() {
            [Tree::Word(a), Tree::Word(b)] => Some((a.clone(), b.clone())),
            _ => None,
        },
        _ => None,
    };
    match args {
        [Tree::Word(a), Tree::Word(b)] => Ok(Op::Metric(vec![(a.clone(), b.clone())])),
        [Tree::List(_), ..] => args.iter().map(pair).collect::<Option<Vec<_>>>().map(Op::Metric).ok_or(UNSUPPORTED),
        _ => Err(UNSUPPORTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Tree {
        Tree::Word(s.to_owned())
    }

    #[test]
    fn reads_upstreams_shapes() {
        let tree = Tree::List(vec![
            w("aggregate"),
            w("rate:mean"),
            Tree::List(vec![w("metric"), Tree::List(vec![w("a"), w("mean")]), Tree::List(vec![w("b"), w("max")])]),
        ]);
        let metric = Op::Metric(vec![("a".into(), "mean".into()), ("b".into(), "max".into())]);
        assert_eq!(Op::read(&tree), Ok(Op::Aggregate { reduction: Reduction::Mean, rate: true, of: Box::new(metric) }));
        let tree = Tree::List(vec![w("÷"), Tree::List(vec![w("metric"), w("a"), w("mean")]), Tree::Float(2.0)]);
        assert!(matches!(Op::read(&tree), Ok(Op::Binary(Binary::Div, _, _))));
    }

    #[test]
    fn leaves_what_it_does_not_reproduce_to_upstream() {
        let m = Tree::List(vec![w("metric"), w("a"), w("mean")]);
        for tree in [
            Tree::List(vec![w("**"), m.clone(), Tree::Float(2.0)]),
            Tree::List(vec![w("tan"), m.clone()]),
            Tree::List(vec![w("aggregate"), w("count"), m.clone()]),
            Tree::List(vec![w("resample"), w("var"), Tree::Int(60), m.clone()]),
            Tree::List(vec![w("unknown"), m]),
        ] {
            assert_eq!(Op::read(&tree), Err(UNSUPPORTED), "{tree:?}");
        }
    }
}
