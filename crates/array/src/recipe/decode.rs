//! CF unpacking while writing (`--decode`): packed integers to floats,
//! fill values to NaN.

use super::*;

/// CF unpacking of one variable: stored values of `from` become
/// `value * scale + offset` in `to`, fill values NaN.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Decoder {
    pub(super) from: ElementType,
    pub(super) to: ElementType,
    pub(super) scale: f64,
    pub(super) offset: f64,
    pub(super) fills: Vec<f64>,
}

impl Decoder {
    /// The decoder for `var`, when decoding changes anything.
    pub(super) fn of(var: &Variable) -> Option<Decoder> {
        let from = var.dtype?;
        let scale = var.attr_f64("scale_factor");
        let offset = var.attr_f64("add_offset");
        let mut fills: Vec<f64> = var.fill.into_iter().collect();
        if let Some(Value::Array(values)) = var.attrs.get("missing_value") {
            fills.extend(values.iter().filter_map(crate::inventory::number));
        } else if let Some(m) = var.attr_f64("missing_value") {
            fills.push(m);
        }
        if scale.is_none() && offset.is_none() && (fills.is_empty() || !from.is_float()) {
            return None;
        }
        let to = match (var.packed_as, from) {
            (Some(t), _) => t,
            (None, f) if f.is_float() => f,
            (None, f) if f.size() <= 2 => ElementType::Float32,
            _ => ElementType::Float64,
        };
        Some(Decoder {
            from,
            to,
            scale: scale.unwrap_or(1.0),
            offset: offset.unwrap_or(0.0),
            fills,
        })
    }

    /// The attributes of the decoded variable.
    pub(super) fn attributes(&self, attrs: &Map<String, Value>) -> Map<String, Value> {
        let mut attrs = attrs.clone();
        for key in ["scale_factor", "add_offset", "missing_value", "_Unsigned"] {
            attrs.remove(key);
        }
        attrs
    }

    pub(super) fn decode(&self, bytes: &[u8]) -> Vec<u8> {
        let values = self.from.to_f64(bytes);
        let unpack = |v: f64| {
            if self
                .fills
                .iter()
                .any(|f| *f == v || (f.is_nan() && v.is_nan()))
            {
                f64::NAN
            } else {
                v * self.scale + self.offset
            }
        };
        match self.to {
            ElementType::Float32 => values
                .into_iter()
                .flat_map(|v| (unpack(v) as f32).to_ne_bytes())
                .collect(),
            _ => values
                .into_iter()
                .flat_map(|v| unpack(v).to_ne_bytes())
                .collect(),
        }
    }
}
