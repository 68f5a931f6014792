//! CMIP6's Data Reference Syntax: what a file's name and its directory say
//! it is, and the dataset it belongs to.
//!
//! File names are
//! `<variable_id>_<table_id>_<source_id>_<experiment_id>_<member_id>_<grid_label>[_<time_range>].nc`
//! (member_id may carry a sub-experiment: `s1960-r1i1p1f1`; fixed fields
//! have no time range); the ESGF directory layout is
//! `<activity>/<institution>/<source>/<experiment>/<member>/<table>/<variable>/<grid>/<version>/`.

use std::fmt;
use std::path::Path;

/// The facets of one file, from its name (and its directory, when it is
/// in the DRS layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub variable_id: String,
    pub table_id: String,
    pub source_id: String,
    pub experiment_id: String,
    /// `[<sub_experiment_id>-]<variant_label>`.
    pub member_id: String,
    pub grid_label: String,
    /// The first and last time step the name promises, as written
    /// (`185001`, `18501231`, `1850010100`...); none for fixed fields.
    pub time_range: Option<(String, String)>,
    /// From the directory layout, when the file is in one.
    pub directory: Option<Directory>,
}

/// The facets the DRS directories add to a file's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    pub activity_id: String,
    pub institution_id: String,
    /// `v20190610`, `latest`, `files/d20190807` as found (the version
    /// directory, when it is one).
    pub version: Option<String>,
}

/// Why a name is not a CMIP6 DRS file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotDrs(pub String);

impl fmt::Display for NotDrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FileName {
    /// Parses the name of `path` (and its directories).
    pub fn parse(path: &Path) -> Result<FileName, NotDrs> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = name
            .strip_suffix(".nc")
            .ok_or_else(|| NotDrs(format!("`{name}` does not end in .nc")))?;
        let parts: Vec<&str> = stem.split('_').collect();
        let layout = "<variable_id>_<table_id>_<source_id>_<experiment_id>_<member_id>_<grid_label>[_<time_range>].nc";
        if !(6..=7).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(NotDrs(format!(
                "`{name}` is not a CMIP6 file name ({layout})"
            )));
        }
        let time_range = match parts.get(6) {
            None => None,
            Some(range) => {
                let (start, end) = range.split_once('-').ok_or_else(|| {
                    NotDrs(format!("`{name}`: time range `{range}` is not START-END"))
                })?;
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                if !digits(start) || !digits(end) || start.len() != end.len() {
                    return Err(NotDrs(format!(
                        "`{name}`: time range `{range}` is not two dates of the same form (YYYY, YYYYMM, YYYYMMDD, ...)"
                    )));
                }
                Some((start.to_string(), end.to_string()))
            }
        };
        let variant = parts[4].rsplit('-').next().unwrap_or_default();
        if !is_variant_label(variant) {
            return Err(NotDrs(format!(
                "`{name}`: member `{}` has no variant label r<k>i<l>p<m>f<n>",
                parts[4]
            )));
        }
        let mut file = FileName {
            variable_id: parts[0].into(),
            table_id: parts[1].into(),
            source_id: parts[2].into(),
            experiment_id: parts[3].into(),
            member_id: parts[4].into(),
            grid_label: parts[5].into(),
            time_range,
            directory: None,
        };
        file.directory = file.directory_of(path);
        Ok(file)
    }

    /// The activity, institution and version from the directories above
    /// the file, when they are the DRS layout for this name.
    fn directory_of(&self, path: &Path) -> Option<Directory> {
        let dirs: Vec<String> = path
            .parent()?
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        // .../<source>/<experiment>/<member>/<table>/<variable>/<grid>/<version...>
        let expected = [
            &self.source_id,
            &self.experiment_id,
            &self.member_id,
            &self.table_id,
            &self.variable_id,
            &self.grid_label,
        ];
        // The version may be one directory (v20190610, latest) or two
        // (files/d20190807).
        for version_depth in [1, 2, 0] {
            let n = dirs.len().checked_sub(version_depth + expected.len() + 2)?;
            let facets = &dirs[n + 2..n + 2 + expected.len()];
            if facets.iter().zip(expected).all(|(a, b)| a == b) {
                let version =
                    (version_depth > 0).then(|| dirs[dirs.len() - version_depth..].join("/"));
                return Some(Directory {
                    activity_id: dirs[n].clone(),
                    institution_id: dirs[n + 1].clone(),
                    version,
                });
            }
        }
        None
    }

    /// `sub_experiment_id` (`none` when the member has none).
    pub fn sub_experiment_id(&self) -> &str {
        match self.member_id.rsplit_once('-') {
            Some((sub, _)) => sub,
            None => "none",
        }
    }

    /// `variant_label` (`r1i1p1f1`).
    pub fn variant_label(&self) -> &str {
        self.member_id.rsplit('-').next().unwrap_or_default()
    }

    /// The dataset id: `CMIP6.<activity>.<institution>.<source>.<experiment>.
    /// <member>.<table>.<variable>.<grid>[.<version>]`, given the activity
    /// and institution (the directories', else the global attributes').
    pub fn dataset_id(&self, activity: &str, institution: &str) -> String {
        let mut id = format!(
            "CMIP6.{activity}.{institution}.{}.{}.{}.{}.{}.{}",
            self.source_id,
            self.experiment_id,
            self.member_id,
            self.table_id,
            self.variable_id,
            self.grid_label
        );
        if let Some(v) = self.version() {
            id.push('.');
            id.push_str(&v);
        }
        id
    }

    /// The dataset version (`v20190610`) from the directories, when they
    /// give one in a form the id can carry (`files/d20190807` is
    /// `v20190807`; `latest` is none).
    pub fn version(&self) -> Option<String> {
        let v = self.directory.as_ref()?.version.as_deref()?;
        let last = v.rsplit('/').next()?;
        let digits = last.strip_prefix('v').or_else(|| last.strip_prefix('d'))?;
        (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| format!("v{digits}"))
    }
}

/// Whether `s` is a variant label: `r<k>i<l>p<m>f<n>`.
pub fn is_variant_label(s: &str) -> bool {
    let mut rest = s;
    for letter in ['r', 'i', 'p', 'f'] {
        let Some(after) = rest.strip_prefix(letter) else {
            return false;
        };
        let n = after.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &after[n..];
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn names_and_directories_give_the_facets() {
        let path = PathBuf::from("/data/cmip6/DCPP/MOHC/HadGEM3-GC31-MM/dcppA-hindcast/s2004-r3i1p1f2/Amon/pr/gn/v20200417/pr_Amon_HadGEM3-GC31-MM_dcppA-hindcast_s2004-r3i1p1f2_gn_200411-200412.nc");
        let f = FileName::parse(&path).unwrap();
        assert_eq!(f.variable_id, "pr");
        assert_eq!(f.sub_experiment_id(), "s2004");
        assert_eq!(f.variant_label(), "r3i1p1f2");
        assert_eq!(f.time_range, Some(("200411".into(), "200412".into())));
        let dir = f.directory.clone().unwrap();
        assert_eq!(
            (dir.activity_id.as_str(), dir.institution_id.as_str()),
            ("DCPP", "MOHC")
        );
        assert_eq!(
            f.dataset_id("DCPP", "MOHC"),
            "CMIP6.DCPP.MOHC.HadGEM3-GC31-MM.dcppA-hindcast.s2004-r3i1p1f2.Amon.pr.gn.v20200417"
        );

        // A fixed field, and the version as `files/dYYYYMMDD` and `latest`.
        let fx = FileName::parse(Path::new("ScenarioMIP/IPSL/IPSL-CM6A-LR/ssp119/r1i1p1f1/fx/mrsofc/gr/v20190410/mrsofc_fx_IPSL-CM6A-LR_ssp119_r1i1p1f1_gr.nc")).unwrap();
        assert_eq!(fx.time_range, None);
        assert_eq!(fx.sub_experiment_id(), "none");
        let files = FileName::parse(Path::new("ScenarioMIP/MIROC/MIROC6/ssp119/r1i1p1f1/Amon/ta/gn/files/d20190807/ta_Amon_MIROC6_ssp119_r1i1p1f1_gn_201501-202412.nc")).unwrap();
        assert_eq!(files.version().as_deref(), Some("v20190807"));
        assert_eq!(files.directory.unwrap().activity_id, "ScenarioMIP");
        let latest = FileName::parse(Path::new("CMIP/SNU/SAM0-UNICON/historical/r1i1p1f1/SImon/siconc/gn/latest/siconc_SImon_SAM0-UNICON_historical_r1i1p1f1_gn_185001-185912.nc")).unwrap();
        assert_eq!(latest.version(), None);
        assert_eq!(latest.directory.unwrap().institution_id, "SNU");

        // Outside the layout, the name alone.
        let bare = FileName::parse(Path::new(
            "/tmp/tas_day_X_historical_r1i1p1f1_gn_20000101-20091231.nc",
        ))
        .unwrap();
        assert_eq!(bare.directory, None);
    }

    #[test]
    fn other_names_are_refused_saying_why() {
        for (name, says) in [
            ("sst.nc", "not a CMIP6 file name"),
            (
                "tas_Amon_X_historical_r1i1p1f1_gn_1850-185012.nc",
                "same form",
            ),
            (
                "tas_Amon_X_historical_member1_gn_185001-185012.nc",
                "variant label",
            ),
            (
                "tas_Amon_X_historical_r1i1p1f1_gn_185001-185012.tif",
                "does not end in .nc",
            ),
        ] {
            let err = FileName::parse(Path::new(name)).unwrap_err();
            assert!(err.0.contains(says), "{name}: {err}");
        }
        assert!(is_variant_label("r10i1p2f3"));
        assert!(!is_variant_label("r1i1p1"));
    }
}
