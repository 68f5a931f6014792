//! Chunk shapes from the user's lengths and a target chunk size.

use super::*;

/// Largest chunk along the concatenation dimension a plan makes by itself.
pub(super) const MAX_CONCAT_CHUNK: u64 = 65_536;

pub(super) fn spec(
    var: &Variable,
    concat: Option<&str>,
    total: usize,
    recipe: &Recipe,
    placeholder: bool,
) -> ArraySpec {
    let chars = var.is_char();
    let dtype = if chars {
        ElementType::UInt8
    } else if placeholder {
        ElementType::Int32
    } else {
        var.dtype.expect("numeric")
    };
    let shape: Vec<u64> = var
        .dims
        .iter()
        .zip(&var.shape)
        .map(|(d, &n)| {
            if Some(d.as_str()) == concat {
                total as u64
            } else {
                n as u64
            }
        })
        .collect();
    let mut attrs = var.attrs.clone();
    if placeholder {
        attrs.remove("_FillValue");
    }
    ArraySpec {
        name: var.name.clone(),
        dims: var.dims.clone(),
        chunks: if chars {
            // Written whole, in one chunk.
            shape.iter().map(|&n| n.max(1)).collect()
        } else if var.dims.len() == 1 && Some(var.dims[0].as_str()) == concat {
            // A 1-D coordinate along the concatenation (time) is read whole
            // by every reader: one chunk as far as the planner goes, whatever
            // the data variables' chunking.
            plan_chunks(
                &var.dims,
                &shape,
                dtype.size() as u64,
                concat,
                &Recipe {
                    chunks: BTreeMap::new(),
                    ..recipe.clone()
                },
            )
        } else {
            plan_chunks(&var.dims, &shape, dtype.size() as u64, concat, recipe)
        },
        shape,
        dtype,
        fill: if placeholder { None } else { var.fill },
        attrs,
        chars,
    }
}

/// Chunk shape: user-fixed lengths where given; other dimensions whole,
/// halved (largest first) while a chunk exceeds the target; the
/// concatenation dimension then takes as many steps as fit the target
/// (independent of how many steps there are, so a store made at once and
/// one grown by appends chunk alike).
pub fn plan_chunks(
    dims: &[String],
    shape: &[u64],
    item: u64,
    concat: Option<&str>,
    recipe: &Recipe,
) -> Vec<u64> {
    let target = recipe.target_chunk_bytes.max(item);
    let mut chunks: Vec<u64> = dims
        .iter()
        .zip(shape)
        .map(|(d, &n)| {
            recipe
                .chunks
                .get(d)
                .copied()
                .unwrap_or(n)
                .clamp(1, n.max(1))
        })
        .collect();
    let is_free =
        |i: usize| !recipe.chunks.contains_key(&dims[i]) && Some(dims[i].as_str()) != concat;
    let concat_at = dims.iter().position(|d| Some(d.as_str()) == concat);
    let bytes = |chunks: &[u64]| {
        chunks
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != concat_at)
            .map(|(_, &c)| c)
            .product::<u64>()
            * item
    };
    while bytes(&chunks) > target {
        let Some(i) = (0..dims.len())
            .filter(|&i| is_free(i) && chunks[i] > 1)
            .max_by_key(|&i| chunks[i])
        else {
            break;
        };
        chunks[i] = chunks[i].div_ceil(2);
    }
    if let Some(i) = concat_at {
        if let Some(&fixed) = recipe.chunks.get(&dims[i]) {
            chunks[i] = fixed.max(1);
        } else {
            chunks[i] = (target / bytes(&chunks)).clamp(1, MAX_CONCAT_CHUNK);
        }
    }
    chunks
}
