//! What a NetCDF/HDF5 file holds — dimensions, variables, attributes — read
//! from its header without reading the data, and hyperslab reads of the data.

use crate::{ElementType, Error, Result};
use netcdf::AttributeValue;
use serde_json::{Map, Value};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Attributes netCDF-C or HDF5 keep for themselves; never copied.
const INTERNAL_ATTRIBUTES: &[&str] = &[
    "_NCProperties",
    "_IsNetcdf4",
    "_SuperblockVersion",
    "_Netcdf4Dimid",
    "_Netcdf4Coordinates",
    "DIMENSION_LIST",
    "REFERENCE_LIST",
    "CLASS",
    "NAME",
];

/// A dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimension {
    /// Its name.
    pub name: String,
    /// Its length.
    pub len: usize,
    /// Whether it is the record (unlimited) dimension.
    pub unlimited: bool,
}

/// A variable's header.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its dimensions, outermost first.
    pub dims: Vec<String>,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its element type, or `None` (with the NetCDF type's name in
    /// `other_type`) when it is not numeric (char, string, compound, …).
    pub dtype: Option<ElementType>,
    /// The NetCDF type's name when it is not numeric.
    pub other_type: Option<String>,
    /// Its attributes as JSON (NaN and infinities as the strings `"NaN"`,
    /// `"Infinity"`, `"-Infinity"`), `_FillValue` excluded.
    pub attrs: Map<String, Value>,
    /// Its `_FillValue`, when it has one.
    pub fill: Option<f64>,
    /// The type of its `scale_factor`/`add_offset` (the type CF says the
    /// unpacked values have), when they are floating point.
    pub packed_as: Option<ElementType>,
}

impl Variable {
    /// A string attribute.
    pub fn attr_str(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).and_then(Value::as_str)
    }

    /// A numeric attribute (the first value of a list).
    pub fn attr_f64(&self, name: &str) -> Option<f64> {
        number(self.attrs.get(name)?)
    }

    /// The CF valid range of the stored values: `valid_range`, else
    /// `valid_min` and `valid_max` (either may be missing).
    pub fn valid_range(&self) -> Option<[f64; 2]> {
        if let Some(Value::Array(pair)) = self.attrs.get("valid_range") {
            if let [low, high] = &pair[..] {
                return Some([number(low)?, number(high)?]);
            }
        }
        let (low, high) = (self.attr_f64("valid_min"), self.attr_f64("valid_max"));
        (low.is_some() || high.is_some()).then(|| {
            [
                low.unwrap_or(f64::NEG_INFINITY),
                high.unwrap_or(f64::INFINITY),
            ]
        })
    }

    /// Whether it is a NetCDF `char` variable (bytes: a grid-mapping
    /// container, a string label).
    pub fn is_char(&self) -> bool {
        self.dtype.is_none() && self.other_type.as_deref() == Some("Char")
    }

    /// Its type for messages: the NetCDF name (`float`, `short`, `char`).
    pub fn type_name(&self) -> String {
        match (self.dtype, &self.other_type) {
            (Some(t), _) => t.v3_name().to_string(),
            (None, Some(other)) => other.clone(),
            (None, None) => "of unknown type".to_string(),
        }
    }

    /// Bytes per step along the first dimension (the whole variable when it
    /// has no dimensions).
    pub fn bytes_per_step(&self) -> usize {
        self.shape.iter().skip(1).product::<usize>() * self.dtype.map_or(1, ElementType::size)
    }
}

/// The first number of a JSON attribute value (a number, a numeric string
/// such as `"NaN"`, or a list of them).
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        Value::Array(values) => values.first().and_then(number),
        _ => None,
    }
}

/// A file's header: where it is, its format, dimensions, variables and
/// global attributes.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The file.
    pub path: PathBuf,
    /// The group read (`None` for the root group).
    pub group: Option<String>,
    /// Dimensions visible from the group.
    pub dims: Vec<Dimension>,
    /// Variables of the group, in file order.
    pub vars: Vec<Variable>,
    /// Global (group) attributes.
    pub attrs: Map<String, Value>,
}

impl Inventory {
    /// Reads the header of `path` (of `group` in it, when given).
    pub fn read(path: &Path, group: Option<&str>) -> Result<Inventory> {
        Reader::open(path, group)?.inventory()
    }

    fn from_file(file: &netcdf::File, path: &Path, group: Option<&str>) -> Result<Inventory> {
        let mut inventory = Inventory {
            path: path.to_path_buf(),
            group: group.map(str::to_string),
            dims: Vec::new(),
            vars: Vec::new(),
            attrs: Map::new(),
        };
        let read_err = |what: &str, e: netcdf::Error| Error::Read {
            path: path.to_path_buf(),
            what: what.to_string(),
            message: e.to_string(),
        };
        match group {
            None => {
                for d in file.dimensions() {
                    inventory.dims.push(dimension(&d));
                }
                for a in file.attributes() {
                    push_attr(&mut inventory.attrs, &a, path)?;
                }
                for v in file.variables() {
                    inventory.vars.push(variable(&v, path)?);
                }
            }
            Some(name) => {
                let g = file
                    .group(name)
                    .map_err(|e| read_err("groups", e))?
                    .ok_or_else(|| Error::Unsupported {
                        path: path.to_path_buf(),
                        message: format!("it has no group `{name}`"),
                    })?;
                // Dimensions of the root are visible in every group.
                for d in file.dimensions().chain(g.dimensions()) {
                    inventory.dims.retain(|x: &Dimension| x.name != d.name());
                    inventory.dims.push(dimension(&d));
                }
                for a in g.attributes() {
                    push_attr(&mut inventory.attrs, &a, path)?;
                }
                for v in g.variables() {
                    inventory.vars.push(variable(&v, path)?);
                }
            }
        }
        Ok(inventory)
    }

    /// The header of a Zarr store written by stacforge, as if it were a file:
    /// its arrays as variables (with their CF attributes), its root
    /// attributes as global attributes.
    pub fn from_store(root: &Path, meta: &crate::zarr::StoreMeta) -> Inventory {
        let mut dims: Vec<Dimension> = Vec::new();
        let vars = meta
            .arrays
            .iter()
            .map(|a| {
                let names = a.dims();
                let shape: Vec<usize> = a.shape().iter().map(|&n| n as usize).collect();
                for (name, &len) in names.iter().zip(&shape) {
                    if !dims.iter().any(|d| &d.name == name) {
                        dims.push(Dimension {
                            name: name.clone(),
                            len,
                            unlimited: false,
                        });
                    }
                }
                let mut attrs = a.cf_attributes().clone();
                attrs.remove("_FillValue");
                attrs.remove("_ARRAY_DIMENSIONS");
                Variable {
                    name: a.name.clone(),
                    dims: names,
                    shape,
                    dtype: a.dtype(),
                    other_type: None,
                    attrs,
                    fill: None,
                    packed_as: None,
                }
            })
            .collect();
        Inventory {
            path: root.to_path_buf(),
            group: None,
            dims,
            vars,
            attrs: meta.attrs.clone(),
        }
    }

    /// A variable by name.
    pub fn var(&self, name: &str) -> Option<&Variable> {
        self.vars.iter().find(|v| v.name == name)
    }

    /// A dimension by name.
    pub fn dim(&self, name: &str) -> Option<&Dimension> {
        self.dims.iter().find(|d| d.name == name)
    }
}

/// An open file from which hyperslabs are read.
#[derive(Debug)]
pub struct Reader {
    path: PathBuf,
    group: Option<String>,
    file: netcdf::File,
}

impl Reader {
    /// The header of the open file.
    pub fn inventory(&self) -> Result<Inventory> {
        Inventory::from_file(&self.file, &self.path, self.group.as_deref())
    }

    /// Opens `path` for reading (variables of `group`, when given).
    pub fn open(path: &Path, group: Option<&str>) -> Result<Reader> {
        Ok(Reader {
            path: path.to_path_buf(),
            group: group.map(str::to_string),
            file: open(path)?,
        })
    }

    /// Reads the hyperslab `ranges` of `name` as native-endian bytes.
    pub fn read(&self, name: &str, ranges: &[Range<usize>]) -> Result<Vec<u8>> {
        let read_err = |message: String| Error::Read {
            path: self.path.clone(),
            what: format!("variable `{name}`"),
            message,
        };
        let extents: Vec<Range<usize>> = ranges.to_vec();
        let values = match &self.group {
            None => {
                let var = self
                    .file
                    .variable(name)
                    .ok_or_else(|| read_err("no such variable".into()))?;
                raw(&var, extents)
            }
            Some(group) => {
                let g = self
                    .file
                    .group(group)
                    .map_err(|e| read_err(e.to_string()))?
                    .ok_or_else(|| read_err(format!("no group `{group}`")))?;
                let var = g
                    .variable(name)
                    .ok_or_else(|| read_err("no such variable".into()))?;
                raw(&var, extents)
            }
        };
        values.map_err(|e| read_err(e.to_string()))
    }

    /// Reads a whole 1-D (or scalar) numeric variable as `f64`.
    pub fn read_f64(&self, var: &Variable) -> Result<Vec<f64>> {
        let dtype = var.dtype.ok_or_else(|| Error::Unsupported {
            path: self.path.clone(),
            message: format!("variable `{}` is not numeric", var.name),
        })?;
        let ranges: Vec<Range<usize>> = var.shape.iter().map(|&n| 0..n).collect();
        Ok(dtype.to_f64(&self.read(&var.name, &ranges)?))
    }
}

/// The hyperslab's bytes (the whole variable for a scalar).
fn raw(var: &netcdf::Variable, extents: Vec<Range<usize>>) -> netcdf::Result<Vec<u8>> {
    if extents.is_empty() {
        var.get_raw_values(..)
    } else {
        var.get_raw_values(extents)
    }
}

fn open(path: &Path) -> Result<netcdf::File> {
    stacforge_core::quiet_hdf5();
    if path.is_dir() {
        return Err(Error::Open {
            path: path.to_path_buf(),
            message: "it is a directory".into(),
        });
    }
    crate::nc3::check_complete(path)?;
    netcdf::open(path).map_err(|e| Error::Open {
        path: path.to_path_buf(),
        message: match e.to_string() {
            m if m.contains("Unknown file format") => {
                "unknown file format (not NetCDF-3, NetCDF-4 or HDF5)".into()
            }
            m if m.contains("HDF error") || m.contains("truncated") => {
                format!("{m} (truncated or corrupt?)")
            }
            m => m,
        },
    })
}

fn dimension(d: &netcdf::Dimension) -> Dimension {
    Dimension {
        name: d.name(),
        len: d.len(),
        unlimited: d.is_unlimited(),
    }
}

fn variable(v: &netcdf::Variable, path: &Path) -> Result<Variable> {
    let vartype = v.vartype();
    let dtype = ElementType::from_netcdf(&vartype);
    let mut var = Variable {
        name: v.name(),
        dims: v.dimensions().iter().map(netcdf::Dimension::name).collect(),
        shape: v.dimensions().iter().map(netcdf::Dimension::len).collect(),
        dtype,
        other_type: dtype.is_none().then(|| format!("{vartype:?}")),
        attrs: Map::new(),
        fill: None,
        packed_as: None,
    };
    for a in v.attributes() {
        if matches!(a.name(), "scale_factor" | "add_offset") {
            match a.value() {
                Ok(AttributeValue::Double(_) | AttributeValue::Doubles(_)) => {
                    var.packed_as = Some(ElementType::Float64)
                }
                Ok(AttributeValue::Float(_) | AttributeValue::Floats(_)) => {
                    var.packed_as = var.packed_as.or(Some(ElementType::Float32))
                }
                _ => {}
            }
        }
        if a.name() == "_FillValue" {
            let value = a.value().map_err(|e| Error::Read {
                path: path.to_path_buf(),
                what: format!("`{}:_FillValue`", var.name),
                message: e.to_string(),
            })?;
            var.fill = number(&to_json(value));
        } else {
            push_attr(&mut var.attrs, &a, path)?;
        }
    }
    Ok(var)
}

fn push_attr(attrs: &mut Map<String, Value>, a: &netcdf::Attribute, path: &Path) -> Result<()> {
    if INTERNAL_ATTRIBUTES.contains(&a.name()) {
        return Ok(());
    }
    let value = a.value().map_err(|e| Error::Read {
        path: path.to_path_buf(),
        what: format!("attribute `{}`", a.name()),
        message: e.to_string(),
    })?;
    attrs.insert(a.name().to_string(), to_json(value));
    Ok(())
}

fn float(x: f64) -> Value {
    if x.is_nan() {
        Value::from("NaN")
    } else if x.is_infinite() {
        Value::from(if x > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        Value::from(x)
    }
}

/// A NetCDF attribute value as JSON; `f32` values keep their exact value.
pub fn to_json(value: AttributeValue) -> Value {
    use AttributeValue as A;
    match value {
        A::Uchar(x) => x.into(),
        A::Uchars(x) => x.into(),
        A::Schar(x) => x.into(),
        A::Schars(x) => x.into(),
        A::Ushort(x) => x.into(),
        A::Ushorts(x) => x.into(),
        A::Short(x) => x.into(),
        A::Shorts(x) => x.into(),
        A::Uint(x) => x.into(),
        A::Uints(x) => x.into(),
        A::Int(x) => x.into(),
        A::Ints(x) => x.into(),
        A::Ulonglong(x) => x.into(),
        A::Ulonglongs(x) => x.into(),
        A::Longlong(x) => x.into(),
        A::Longlongs(x) => x.into(),
        A::Float(x) => float(f64::from(x)),
        A::Floats(x) => Value::Array(x.into_iter().map(|v| float(f64::from(v))).collect()),
        A::Double(x) => float(x),
        A::Doubles(x) => Value::Array(x.into_iter().map(float).collect()),
        A::Str(x) => x.into(),
        A::Strs(x) => x.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_keep_their_exact_numbers() {
        assert_eq!(
            to_json(AttributeValue::Floats(vec![185.16, f32::NAN])),
            serde_json::json!([185.16000366210938, "NaN"])
        );
        assert_eq!(to_json(AttributeValue::Short(2)), serde_json::json!(2));
        assert_eq!(
            number(&serde_json::json!(["NaN"])).map(f64::is_nan),
            Some(true)
        );
    }
}
