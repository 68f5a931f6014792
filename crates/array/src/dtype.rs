//! The numeric element types arrays can hold, and their names in NetCDF and Zarr.

use netcdf::types::{FloatType, IntType, NcVariableType};

/// A fixed-size numeric element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum ElementType {
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float32,
    Float64,
}

impl ElementType {
    /// Every element type.
    pub const ALL: [ElementType; 10] = [
        Self::Int8,
        Self::UInt8,
        Self::Int16,
        Self::UInt16,
        Self::Int32,
        Self::UInt32,
        Self::Int64,
        Self::UInt64,
        Self::Float32,
        Self::Float64,
    ];

    /// The type of a Zarr v3 `data_type` or v2 `dtype` (either byte order),
    /// with whether it is big-endian.
    pub fn from_zarr(name: &str) -> Option<(ElementType, bool)> {
        let big = name.starts_with('>');
        let little = name
            .get(1..)
            .map(|rest| format!("<{rest}"))
            .unwrap_or_default();
        Self::ALL
            .into_iter()
            .find(|t| t.v3_name() == name || t.v2_name() == name || t.v2_name() == little)
            .map(|t| (t, big))
    }

    /// The element type of a NetCDF variable type, if it is numeric.
    pub fn from_netcdf(t: &NcVariableType) -> Option<ElementType> {
        Some(match t {
            NcVariableType::Int(i) => match i {
                IntType::I8 => Self::Int8,
                IntType::U8 => Self::UInt8,
                IntType::I16 => Self::Int16,
                IntType::U16 => Self::UInt16,
                IntType::I32 => Self::Int32,
                IntType::U32 => Self::UInt32,
                IntType::I64 => Self::Int64,
                IntType::U64 => Self::UInt64,
            },
            NcVariableType::Float(FloatType::F32) => Self::Float32,
            NcVariableType::Float(FloatType::F64) => Self::Float64,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::Int8 | Self::UInt8 => 1,
            Self::Int16 | Self::UInt16 => 2,
            Self::Int32 | Self::UInt32 | Self::Float32 => 4,
            Self::Int64 | Self::UInt64 | Self::Float64 => 8,
        }
    }

    /// Whether the type is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, Self::Float32 | Self::Float64)
    }

    /// The Zarr v3 `data_type` (also STAC's raster data type name).
    pub fn v3_name(self) -> &'static str {
        match self {
            Self::Int8 => "int8",
            Self::UInt8 => "uint8",
            Self::Int16 => "int16",
            Self::UInt16 => "uint16",
            Self::Int32 => "int32",
            Self::UInt32 => "uint32",
            Self::Int64 => "int64",
            Self::UInt64 => "uint64",
            Self::Float32 => "float32",
            Self::Float64 => "float64",
        }
    }

    /// The Zarr v2 `dtype` (NumPy type string, little-endian).
    pub fn v2_name(self) -> &'static str {
        match self {
            Self::Int8 => "|i1",
            Self::UInt8 => "|u1",
            Self::Int16 => "<i2",
            Self::UInt16 => "<u2",
            Self::Int32 => "<i4",
            Self::UInt32 => "<u4",
            Self::Int64 => "<i8",
            Self::UInt64 => "<u8",
            Self::Float32 => "<f4",
            Self::Float64 => "<f8",
        }
    }

    /// Decodes native-endian element bytes into `f64` values.
    pub fn to_f64(self, bytes: &[u8]) -> Vec<f64> {
        macro_rules! decode {
            ($t:ty) => {
                bytes
                    .chunks_exact(std::mem::size_of::<$t>())
                    .map(|b| <$t>::from_ne_bytes(b.try_into().expect("element size")) as f64)
                    .collect()
            };
        }
        match self {
            Self::Int8 => decode!(i8),
            Self::UInt8 => decode!(u8),
            Self::Int16 => decode!(i16),
            Self::UInt16 => decode!(u16),
            Self::Int32 => decode!(i32),
            Self::UInt32 => decode!(u32),
            Self::Int64 => decode!(i64),
            Self::UInt64 => decode!(u64),
            Self::Float32 => decode!(f32),
            Self::Float64 => decode!(f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ElementType;

    #[test]
    fn decodes_native_bytes() {
        let bytes: Vec<u8> = [-2i16, 300].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(ElementType::Int16.to_f64(&bytes), vec![-2.0, 300.0]);
        let bytes: Vec<u8> = [1.5f32].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(ElementType::Float32.to_f64(&bytes), vec![1.5]);
    }
}
