//! Formula queries from Qdrant's gRPC messages.

use tessera_types::formula::{Decay, DivParams, Expression, Formula, GeoDistance, PowParams};

use super::filters::condition_from_proto;
use super::*;

pub fn formula_from_proto(formula: q::Formula) -> Result<Formula> {
    let expression = formula
        .expression
        .ok_or_else(|| bad_input("A formula has no expression"))?;
    Ok(Formula {
        formula: expression_from_proto(expression)?,
        defaults: formula
            .defaults
            .into_iter()
            .map(|(k, v)| Ok((k, value_from_proto(v)?)))
            .collect::<Result<_>>()?,
    })
}

fn boxed(e: Option<Box<q::Expression>>, what: &str) -> Result<Expression> {
    let e = e.ok_or_else(|| bad_input(format!("A formula's {what} is missing")))?;
    expression_from_proto(*e)
}

fn decay(d: q::DecayParamsExpression) -> Result<Box<Decay>> {
    Ok(Box::new(Decay {
        x: boxed(d.x, "decay x")?,
        target: d.target.map(|t| expression_from_proto(*t)).transpose()?,
        scale: d.scale,
        midpoint: d.midpoint,
    }))
}

fn expression_from_proto(e: q::Expression) -> Result<Expression> {
    use q::expression::Variant as V;
    let all = |items: Vec<q::Expression>| -> Result<Vec<Expression>> {
        items.into_iter().map(expression_from_proto).collect()
    };
    Ok(
        match e
            .variant
            .ok_or_else(|| bad_input("An expression is empty"))?
        {
            V::Constant(x) => Expression::Constant(x),
            V::Variable(name) => Expression::Variable(name),
            V::Condition(c) => Expression::Condition(Box::new(condition_from_proto(c)?)),
            V::GeoDistance(g) => {
                let origin = g
                    .origin
                    .ok_or_else(|| bad_input("geo_distance has no origin"))?;
                Expression::GeoDistance {
                    geo_distance: GeoDistance {
                        origin: tessera_types::geo::GeoPoint {
                            lat: origin.lat,
                            lon: origin.lon,
                        },
                        to: g.to,
                    },
                }
            }
            V::Datetime(datetime) => Expression::Datetime { datetime },
            V::DatetimeKey(datetime_key) => Expression::DatetimeKey { datetime_key },
            V::Mult(m) => Expression::Mult { mult: all(m.mult)? },
            V::Sum(s) => Expression::Sum { sum: all(s.sum)? },
            V::Div(d) => Expression::Div {
                div: Box::new(DivParams {
                    left: boxed(d.left, "div left")?,
                    right: boxed(d.right, "div right")?,
                    by_zero_default: d.by_zero_default,
                }),
            },
            V::Neg(x) => Expression::Neg {
                neg: Box::new(expression_from_proto(*x)?),
            },
            V::Abs(x) => Expression::Abs {
                abs: Box::new(expression_from_proto(*x)?),
            },
            V::Sqrt(x) => Expression::Sqrt {
                sqrt: Box::new(expression_from_proto(*x)?),
            },
            V::Pow(p) => Expression::Pow {
                pow: Box::new(PowParams {
                    base: boxed(p.base, "pow base")?,
                    exponent: boxed(p.exponent, "pow exponent")?,
                }),
            },
            V::Exp(x) => Expression::Exp {
                exp: Box::new(expression_from_proto(*x)?),
            },
            V::Log10(x) => Expression::Log10 {
                log10: Box::new(expression_from_proto(*x)?),
            },
            V::Ln(x) => Expression::Ln {
                ln: Box::new(expression_from_proto(*x)?),
            },
            V::ExpDecay(d) => Expression::ExpDecay {
                exp_decay: decay(*d)?,
            },
            V::GaussDecay(d) => Expression::GaussDecay {
                gauss_decay: decay(*d)?,
            },
            V::LinDecay(d) => Expression::LinDecay {
                lin_decay: decay(*d)?,
            },
            V::Acosh(_) | V::Max(_) | V::Min(_) => {
                return Err(unsupported(
                    "acosh, max and min in formulas are not supported yet",
                ))
            }
        },
    )
}
