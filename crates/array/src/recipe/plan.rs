//! Planning: each source opened once, checked against the first, placed
//! along the concatenation dimension, and the arrays specified.

use super::*;

impl Plan {
    /// Checks that the planned sources continue the axis `before` (the
    /// values already in the store or references at `origin`): no overlap,
    /// no gap wider than the axis step.
    pub fn check_continues(&self, origin: &Path, before: &[f64]) -> Result<()> {
        check_axis(&self.sources, Some((origin, before)))
    }

    /// Checks that the planned sources' grid (every variable not along the
    /// concatenation dimension, coordinates by value) equals the one
    /// already in the store or references at `origin`, whose values
    /// `stored` gives by variable name (`None` where it cannot say).
    /// `holder` names the file those values came from, for the message.
    pub fn check_grid(
        &self,
        origin: &Path,
        holder: &str,
        mut stored: impl FnMut(&str) -> Result<Option<Vec<f64>>>,
    ) -> Result<()> {
        let Some(first) = self.sources.first() else {
            return Ok(());
        };
        for g in &self.grid {
            let Some(dtype) = g.dtype else { continue };
            let Some(before) = stored(&g.name)? else {
                continue;
            };
            let now = dtype.to_f64(&g.bytes);
            if let Some(difference) = first_value_difference(&before, &now) {
                return Err(Error::Mismatch {
                    first: PathBuf::from(holder),
                    second: first.inventory.path.clone(),
                    difference: format!(
                        "the values of `{}` (not along the concatenation dimension) differ from {}: {difference}",
                        g.name,
                        origin.display()
                    ),
                });
            }
        }
        Ok(())
    }

    /// The concatenation coordinate values of the `i`-th source (in its units).
    pub fn coordinates(&self, i: usize) -> &[f64] {
        &self.sources[i].coords
    }

    /// The concatenation coordinate of the `i`-th source as stored
    /// (native-endian bytes; empty when there is none).
    pub fn coordinate_bytes(&self, i: usize) -> &[u8] {
        &self.sources[i].coord_bytes
    }

    /// The sources in order along the concatenation dimension: header,
    /// record, first index and number of steps.
    pub fn sources(&self) -> impl Iterator<Item = (&Inventory, &SourceRecord, usize, usize)> {
        self.sources
            .iter()
            .map(|s| (&s.inventory, &s.record, s.offset, s.len))
    }

    /// Whether a variable is written as a 0-d placeholder (a non-numeric
    /// grid mapping carrying its attributes).
    pub fn is_placeholder(&self, name: &str) -> bool {
        self.placeholders.iter().any(|p| p == name)
    }

    /// The global attributes written at the root.
    pub fn attributes(&self) -> &Map<String, Value> {
        &self.attrs
    }

    /// The sources as the store records them, in order.
    pub fn records(&self) -> Vec<SourceRecord> {
        self.sources.iter().map(|s| s.record.clone()).collect()
    }

    /// The concatenation dimension.
    pub fn concat_dim(&self) -> Option<&str> {
        self.concat_dim.as_deref()
    }

    /// A variable's stored bytes as they are written (unpacked when the
    /// recipe decodes it).
    pub(super) fn unpack(&self, name: &str, bytes: Vec<u8>) -> Vec<u8> {
        match self.decoders.get(name) {
            Some(d) => d.decode(&bytes),
            None => bytes,
        }
    }
}

/// Inventories and checks the sources and plans the arrays.
pub fn plan(recipe: &Recipe) -> Result<Plan> {
    if recipe.sources.is_empty() {
        return Err(Error::NoSources);
    }
    if recipe.skip_bad {
        // Sources that cannot even be opened are left out first, so the
        // first readable one is the reference for the others.
        let mut good = Vec::new();
        let mut unreadable = Vec::new();
        for path in &recipe.sources {
            match Reader::open(path, recipe.group.as_deref()).and_then(|r| r.inventory()) {
                Ok(_) => good.push(path.clone()),
                Err(e) => unreadable.push((path.clone(), e)),
            }
        }
        if good.is_empty() {
            let count = unreadable.len();
            let first = unreadable.swap_remove(0).1;
            return Err(Error::NoReadableSource {
                count,
                first: Box::new(first),
            });
        }
        let mut plan = plan_readable(&Recipe {
            sources: good,
            ..recipe.clone()
        })?;
        let mismatched = std::mem::take(&mut plan.skipped);
        plan.skipped = unreadable
            .into_iter()
            .map(|(path, e)| (path, e.to_string()))
            .chain(mismatched)
            .collect();
        return Ok(plan);
    }
    plan_readable(recipe)
}

/// [`plan`] once the sources that cannot be opened are left out.
pub(super) fn plan_readable(recipe: &Recipe) -> Result<Plan> {
    // Checksums of every source, in parallel; then each source opened once:
    // its header read and checked against the first's, its grid values
    // compared, its concatenation coordinate read.
    std::thread::scope(|scope| {
        use rayon::prelude::*;
        let checksums = scope.spawn(|| {
            recipe
                .sources
                .par_iter()
                .map(|path| Ok(stacforge_core::Source::from_path(path)?))
                .collect::<Vec<Result<stacforge_core::Source>>>()
        });
        let mut plan = plan_headers(recipe)?;
        let sources = checksums.join().expect("checksum threads do not panic");
        let mut sources: Vec<Option<Result<stacforge_core::Source>>> =
            sources.into_iter().map(Some).collect();
        for p in &mut plan.sources {
            let source = sources[p.index].take().expect("each source once")?;
            p.record.href = source.location();
            p.record.size = source.size;
            p.record.checksum = source.checksum;
            p.record.etag = source.etag;
        }
        Ok(plan)
    })
}

/// Reads, checks and orders the sources' headers and coordinates, each
/// source opened once (their checksums are computed meanwhile).
pub(super) fn plan_headers(recipe: &Recipe) -> Result<Plan> {
    let group = recipe.group.as_deref();
    let first_reader = Reader::open(&recipe.sources[0], group)?;
    let first = first_reader.inventory()?;
    let concat_dim = match &recipe.concat_dim {
        Some(d) => {
            if first.dim(d).is_none() {
                return Err(Error::Unsupported {
                    path: first.path.clone(),
                    message: format!("it has no dimension `{d}` to concatenate along"),
                });
            }
            Some(d.clone())
        }
        None => default_concat_dim(&first),
    };
    if concat_dim.is_none() && recipe.sources.len() > 1 {
        return Err(Error::NoConcatDim {
            path: first.path.clone(),
        });
    }
    let (mut selected, placeholders, mut warnings) = select(&first, &recipe.variables)?;
    let concat = concat_dim.as_deref();
    // Bytes along the concatenation dimension are not combined (yet).
    selected.retain(|name| {
        let var = first.var(name).expect("selected");
        let along = var.dtype.is_none() && concat.is_some_and(|c| var.dims.iter().any(|d| d == c));
        if along {
            warnings.push(format!(
                "{}: variable `{name}` left out: a {} variable along `{}` cannot be combined",
                first.path.display(),
                var.type_name(),
                concat.unwrap_or_default()
            ));
        }
        !along
    });
    let grid = grid_values(&first, &first_reader, &selected, concat)?;
    check_coordinates_defined(&first, &grid)?;
    let mut placed: Vec<Placed> = Vec::new();
    let mut skipped: Vec<(PathBuf, String)> = Vec::new();
    let mut first_reader = Some(first_reader);
    for (i, path) in recipe.sources.iter().enumerate() {
        // One source placed: read, checked against the first, its
        // coordinate read; `None` when the date range leaves it out.
        let one = (|| -> Result<Option<Placed>> {
            let reader = match first_reader.take() {
                Some(r) => r,
                None => Reader::open(path, group)?,
            };
            let inventory = if i == 0 {
                first.clone()
            } else {
                reader.inventory()?
            };
            if i > 0 {
                check_consistent(&first, &inventory, &selected, concat)?;
                for ((name, expected), (_, found)) in grid
                    .iter()
                    .zip(grid_values(&inventory, &reader, &selected, concat)?)
                {
                    if *expected != found {
                        let dtype = inventory.var(name).and_then(|v| v.dtype);
                        let detail = dtype
                            .and_then(|t| {
                                first_value_difference(&t.to_f64(expected), &t.to_f64(&found))
                            })
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default();
                        return Err(Error::Mismatch {
                            first: first.path.clone(),
                            second: inventory.path.clone(),
                            difference: format!(
                                "the values of `{name}` (not along the concatenation dimension) differ{detail}"
                            ),
                        });
                    }
                }
            }
            let mut p = Placed {
                record: SourceRecord {
                    href: path.display().to_string(),
                    size: 0,
                    checksum: String::new(),
                    steps: 0,
                    etag: None,
                },
                inventory,
                offset: 0,
                len: 0,
                coords: Vec::new(),
                coord_bytes: Vec::new(),
                index: i,
            };
            if let Some(dim) = concat {
                p.len = p.inventory.dim(dim).map_or(0, |d| d.len);
                p.record.steps = p.len;
                if let Some(coord) = cf::coordinate(&p.inventory, dim) {
                    let coord = coord.clone();
                    if let Some(dtype) = coord.dtype {
                        let whole: Vec<Range<usize>> = coord.shape.iter().map(|&n| 0..n).collect();
                        p.coord_bytes = reader.read(&coord.name, &whole)?;
                        p.coords = dtype.to_f64(&p.coord_bytes);
                        if let Some(at) = p.coords.iter().position(|v| !v.is_finite()) {
                            return Err(Error::Unsupported {
                                path: p.inventory.path.clone(),
                                message: format!(
                                    "coordinate `{}` has no value ({}) at index {at}",
                                    coord.name, p.coords[at]
                                ),
                            });
                        }
                    }
                    if cf::is_time(&coord) {
                        let times =
                            cf::time_axis(&coord, &p.coords).map_err(|message| Error::Time {
                                path: p.inventory.path.clone(),
                                variable: coord.name.clone(),
                                message,
                            })?;
                        if let Some((from, to)) = recipe.time_range {
                            let utc: Vec<_> =
                                times.iter().filter_map(cf::CfDateTime::to_utc).collect();
                            let inside = utc.iter().any(|t| from <= *t && *t <= to);
                            if !inside {
                                warnings.push(format!(
                                    "{}: left out, no time step between {} and {}",
                                    p.inventory.path.display(),
                                    from.to_rfc3339(),
                                    to.to_rfc3339()
                                ));
                                return Ok(None);
                            }
                        }
                    }
                }
            }
            Ok(Some(p))
        })();
        match one {
            Ok(Some(p)) => placed.push(p),
            Ok(None) => {}
            Err(e) if recipe.skip_bad && i > 0 => skipped.push((path.clone(), e.to_string())),
            Err(e) => return Err(e),
        }
    }
    if placed.is_empty() {
        return Err(Error::NothingInRange);
    }
    if concat_dim.is_some() {
        placed.sort_by(|a, b| {
            let key = |p: &Placed| p.coords.first().copied().unwrap_or(f64::NAN);
            key(a).total_cmp(&key(b))
        });
        check_axis(&placed, None)?;
        let mut offset = 0;
        for p in &mut placed {
            p.offset = offset;
            offset += p.len;
        }
    }
    let first = &placed[0].inventory;
    let total = placed.iter().map(|p| p.len).sum::<usize>();
    let mut decoders = BTreeMap::new();
    let specs = selected
        .iter()
        .map(|name| {
            let var = first.var(name).expect("selected from the inventory");
            let mut spec = spec(
                var,
                concat_dim.as_deref(),
                total,
                recipe,
                placeholders.contains(name),
            );
            // Coordinates keep their encoding (a packed time axis stays as stored).
            let coordinate = cf::is_coordinate(first, name);
            if let Some(d) = Decoder::of(var).filter(|_| recipe.decode && !coordinate) {
                spec.attrs = d.attributes(&spec.attrs);
                spec.dtype = d.to;
                spec.fill = Some(f64::NAN);
                spec.chunks = plan_chunks(
                    &spec.dims,
                    &spec.shape,
                    d.to.size() as u64,
                    concat_dim.as_deref(),
                    recipe,
                );
                decoders.insert(name.clone(), d);
            }
            spec
        })
        .collect();
    let attrs = first.attrs.clone();
    let grid = grid
        .into_iter()
        .map(|(name, bytes)| GridValues {
            dtype: first.var(&name).and_then(|v| v.dtype),
            name,
            bytes,
        })
        .collect();
    Ok(Plan {
        grid,
        skipped,
        sources: placed,
        concat_dim,
        specs,
        placeholders,
        attrs,
        warnings,
        group: recipe.group.clone(),
        decoders,
    })
}

pub(super) fn default_concat_dim(inventory: &Inventory) -> Option<String> {
    if let Some(d) = inventory.dims.iter().find(|d| d.unlimited) {
        return Some(d.name.clone());
    }
    inventory
        .dims
        .iter()
        .find(|d| cf::coordinate(inventory, &d.name).is_some_and(cf::is_time))
        .map(|d| d.name.clone())
}

/// The variables to write, the non-numeric ones written whole from the
/// first source (`char` variables with their bytes; other non-numeric
/// scalars as placeholders carrying their attributes), and warnings for
/// those left out.
pub(super) fn select(
    inventory: &Inventory,
    wanted: &[String],
) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let mut names: Vec<String> = Vec::new();
    if wanted.is_empty() {
        names = inventory.vars.iter().map(|v| v.name.clone()).collect();
    } else {
        for w in wanted {
            let var = inventory.var(w).ok_or_else(|| Error::Unsupported {
                path: inventory.path.clone(),
                message: format!("it has no variable `{w}`"),
            })?;
            let mut add = |n: String| {
                if !names.contains(&n) {
                    names.push(n);
                }
            };
            add(var.name.clone());
            for d in &var.dims {
                if let Some(c) = cf::coordinate(inventory, d) {
                    add(c.name.clone());
                }
            }
            if let Some(gm) = var.attr_str("grid_mapping") {
                add(gm.split([':', ' ']).next().unwrap_or(gm).to_string());
            }
        }
        // Keep file order.
        names = inventory
            .vars
            .iter()
            .filter(|v| names.contains(&v.name))
            .map(|v| v.name.clone())
            .collect();
    }
    let mut selected = Vec::new();
    let mut placeholders = Vec::new();
    let mut warnings = Vec::new();
    for name in names {
        let var = inventory.var(&name).expect("from the inventory");
        if var.dtype.is_some() {
            selected.push(name);
        } else if var.dims.is_empty() || var.is_char() {
            placeholders.push(name.clone());
            selected.push(name);
        } else {
            warnings.push(format!(
                "{}: variable `{name}` left out: its type ({}) is not numeric",
                inventory.path.display(),
                var.other_type.as_deref().unwrap_or("?")
            ));
        }
    }
    Ok((selected, placeholders, warnings))
}

/// Splits `paths` into the sources not yet recorded and the records of
/// those already there (same size and checksum): appending those again is
/// a no-op.
pub fn split_recorded<'a>(
    paths: &[PathBuf],
    recorded: impl Iterator<Item = &'a SourceRecord> + Clone,
) -> Result<(Vec<PathBuf>, Vec<SourceRecord>)> {
    let mut fresh = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        let source = stacforge_core::Source::from_path(path)?;
        match recorded
            .clone()
            .find(|r| r.checksum == source.checksum && r.size == source.size)
        {
            Some(r) => skipped.push(r.clone()),
            None => fresh.push(path.clone()),
        }
    }
    Ok((fresh, skipped))
}
