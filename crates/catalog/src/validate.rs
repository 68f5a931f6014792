//! Validation of STAC documents against the official JSON schemas, offline.
//!
//! Schemas are read from a local folder laid out by URL
//! (`https://HOST/PATH` at `DIR/HOST/PATH`); nothing is fetched.

use crate::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The environment variable naming the default schema folder.
pub const SCHEMAS_ENV: &str = "STACFORGE_SCHEMAS";

/// One way in which a document breaks a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The schema that was broken.
    pub schema: String,
    /// JSON pointer to the offending value in the document.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {} [{}]", self.message, self.schema)
    }
}

/// Where a schema URL lives in the local folder, if it does.
fn local_path(root: &Path, url: &str) -> (PathBuf, Option<PathBuf>) {
    let url = url.split('#').next().unwrap_or(url);
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let expected = root.join(rest.trim_matches('/'));
    let with_json = PathBuf::from(format!("{}.json", expected.display()));
    let found = [expected.clone(), with_json]
        .into_iter()
        .find(|p| p.is_file());
    (expected, found)
}

struct LocalRetriever {
    root: PathBuf,
}

impl jsonschema::Retrieve for LocalRetriever {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> std::result::Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let (expected, found) = local_path(&self.root, uri.as_str());
        let path = found.ok_or_else(|| {
            format!(
                "no local copy of {} (expected {})",
                uri.as_str(),
                expected.display()
            )
        })?;
        Ok(serde_json::from_slice(&std::fs::read(path)?)?)
    }
}

/// Validates STAC documents against schemas in a local folder.
pub struct Validator {
    root: PathBuf,
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("root", &self.root)
            .finish()
    }
}

impl Validator {
    /// Uses the schema folder `root` (it must hold `schemas.stacspec.org/`).
    pub fn new(root: impl Into<PathBuf>) -> Result<Validator> {
        let root = root.into();
        if !root.join("schemas.stacspec.org").is_dir() {
            return Err(Error::Location {
                location: root.display().to_string(),
                reason: "not a STAC schema folder (it has no schemas.stacspec.org/ inside); pass --schemas DIR or set STACFORGE_SCHEMAS".to_string(),
            });
        }
        Ok(Validator {
            root,
            compiled: Mutex::new(HashMap::new()),
        })
    }

    fn compiled(&self, url: &str) -> Result<Arc<jsonschema::Validator>> {
        if let Some(v) = self.compiled.lock().expect("not poisoned").get(url) {
            return Ok(v.clone());
        }
        let (expected, found) = local_path(&self.root, url);
        let path = found.ok_or_else(|| Error::MissingSchema {
            url: url.to_string(),
            root: self.root.clone(),
            expected,
        })?;
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let schema: Value = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            location: path.display().to_string(),
            source,
        })?;
        let validator = jsonschema::options()
            .with_retriever(LocalRetriever {
                root: self.root.clone(),
            })
            .with_base_uri(url.split('#').next().unwrap_or(url))
            .build(&schema)
            .map_err(|e| Error::Schema {
                url: url.to_string(),
                message: e.to_string(),
            })?;
        let validator = Arc::new(validator);
        self.compiled
            .lock()
            .expect("not poisoned")
            .insert(url.to_string(), validator.clone());
        Ok(validator)
    }

    /// The schema URLs a document must satisfy: its core schema and every
    /// extension it declares.
    pub fn schemas_for(document: &Value) -> std::result::Result<Vec<String>, String> {
        let kind = match document.get("type").and_then(Value::as_str) {
            Some("Feature") => "item-spec/json-schema/item.json",
            Some("Collection") => "collection-spec/json-schema/collection.json",
            Some("Catalog") => "catalog-spec/json-schema/catalog.json",
            other => {
                return Err(format!(
                    "not a STAC Item, Collection or Catalog (type is {})",
                    other.map_or("missing".to_string(), |t| format!("{t:?}"))
                ))
            }
        };
        let version = document
            .get("stac_version")
            .and_then(Value::as_str)
            .ok_or("stac_version is missing or not a string")?;
        let mut urls = vec![format!("https://schemas.stacspec.org/v{version}/{kind}")];
        match document.get("stac_extensions") {
            None => {}
            Some(Value::Array(exts)) => {
                for ext in exts {
                    match ext.as_str() {
                        Some(url) => urls.push(url.to_string()),
                        None => return Err("stac_extensions holds a non-string".to_string()),
                    }
                }
            }
            Some(_) => return Err("stac_extensions is not an array".to_string()),
        }
        Ok(urls)
    }

    /// The extension schemas `document` declares that the folder has no
    /// copy of (they cannot be checked offline).
    pub fn missing_extensions(&self, document: &Value) -> Vec<String> {
        let Ok(urls) = Self::schemas_for(document) else {
            return Vec::new();
        };
        urls.into_iter()
            .skip(1) // the core schema
            .filter(|url| local_path(&self.root, url).1.is_none())
            .collect()
    }

    /// Every problem `document` has against the schemas the folder holds,
    /// and the declared extensions it holds no schema of (left unchecked).
    pub fn validate_available(&self, document: &Value) -> Result<(Vec<Problem>, Vec<String>)> {
        let missing = self.missing_extensions(document);
        if missing.is_empty() {
            return Ok((self.validate(document)?, missing));
        }
        let mut checked = document.clone();
        if let Some(list) = checked
            .get_mut("stac_extensions")
            .and_then(Value::as_array_mut)
        {
            list.retain(|u| !u.as_str().is_some_and(|u| missing.iter().any(|m| m == u)));
        }
        Ok((self.validate(&checked)?, missing))
    }

    /// Every problem `document` has; empty when it is valid. An `Err` means
    /// validation itself could not run (a schema is missing).
    pub fn validate(&self, document: &Value) -> Result<Vec<Problem>> {
        let urls = match Self::schemas_for(document) {
            Ok(urls) => urls,
            Err(message) => {
                return Ok(vec![Problem {
                    schema: "STAC".to_string(),
                    pointer: String::new(),
                    message,
                }])
            }
        };
        let mut problems = Vec::new();
        for url in urls {
            let validator = self.compiled(&url)?;
            for error in validator.iter_errors(document) {
                for leaf in leaves(&error) {
                    let problem = Problem {
                        schema: url.clone(),
                        pointer: leaf.instance_path.to_string(),
                        message: short_message(leaf),
                    };
                    if !problems.contains(&problem) {
                        problems.push(problem);
                    }
                }
            }
        }
        Ok(problems)
    }
}

/// The errors that explain `error`: itself, or for `anyOf`/`oneOf` the
/// leaves of the branch that failed deepest in the document and, among
/// those, least often (the branch that matched the document best, in the
/// spirit of Python jsonschema's `best_match`).
fn leaves<'a>(
    error: &'a jsonschema::ValidationError<'a>,
) -> Vec<&'a jsonschema::ValidationError<'a>> {
    use jsonschema::error::ValidationErrorKind;
    let context = match &error.kind {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            context
        }
        _ => return vec![error],
    };
    let depth = |e: &jsonschema::ValidationError| e.instance_path.as_str().matches('/').count();
    let best = context
        .iter()
        .filter(|branch| !branch.is_empty())
        .map(|branch| branch.iter().flat_map(leaves).collect::<Vec<_>>())
        .max_by_key(|leaves| {
            // Deepest first; among equals, the branch with fewest failures.
            let deepest = leaves.iter().map(|e| depth(e)).max().unwrap_or(0);
            (deepest, std::cmp::Reverse(leaves.len()))
        });
    match best {
        Some(best) if !best.is_empty() => best,
        _ => vec![error],
    }
}

/// The error's message, cut short when it quotes a large value.
fn short_message(error: &jsonschema::ValidationError) -> String {
    let mut message = error.to_string();
    if message.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|i| message.is_char_boundary(*i))
            .unwrap_or(0);
        message.truncate(cut);
        message.push('…');
    }
    message
}
