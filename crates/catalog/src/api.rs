//! Registering a catalog in a STAC API through the Transactions extension
//! (stac-fastapi-pgstac, stac-server, …).
//!
//! The collection is created (POST) or updated (PUT) first, then every item:
//! created when the API does not have it, updated when its content differs,
//! left alone when the API already holds the same content, so publishing
//! twice creates no duplicates. Connection errors, timeouts, 429 and 5xx are
//! retried with backoff; other refusals fail that document only.

use crate::publish::{absolutize, is_relative, LocalCatalog, Report};
use crate::{Error, Result};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// How to reach the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiOptions {
    /// Bearer token for the `Authorization` header.
    pub token: Option<String>,
    /// `USER:PASSWORD` for HTTP basic authentication.
    pub basic: Option<String>,
    /// Where the catalog's files are published: relative asset hrefs become
    /// absolute under it, as items in an API must point to their assets.
    pub public_url: Option<String>,
}

const ATTEMPTS: u32 = 5;

struct Client {
    http: reqwest::Client,
    base: String,
    options: ApiOptions,
    runtime: tokio::runtime::Runtime,
}

/// A response: status and body.
struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Client {
    fn new(base: &str, options: &ApiOptions) -> Result<Client> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Api {
                url: base.to_string(),
                message: format!("cannot build an HTTP client: {e}"),
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                path: base.into(),
                source,
            })?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            options: options.clone(),
            runtime,
        })
    }

    /// Removes credentials from a message.
    fn redact(&self, text: String) -> String {
        let mut text = text;
        for secret in [&self.options.token, &self.options.basic]
            .into_iter()
            .flatten()
        {
            if !secret.is_empty() {
                text = text.replace(secret.as_str(), "[redacted]");
            }
        }
        text
    }

    /// Sends a request, retrying transient failures with backoff.
    fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        let mut delay = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let mut request = self.http.request(method.clone(), &url);
            if let Some(token) = &self.options.token {
                request = request.bearer_auth(token);
            } else if let Some(basic) = &self.options.basic {
                let (user, password) = basic.split_once(':').unwrap_or((basic, ""));
                request = request.basic_auth(user, Some(password));
            }
            if let Some(body) = body {
                request = request
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(body).expect("a JSON value serialises"));
            }
            let outcome = self.runtime.block_on(async {
                let response = request.send().await?;
                let status = response.status().as_u16();
                let body = response.bytes().await?.to_vec();
                Ok::<_, reqwest::Error>(Reply { status, body })
            });
            match outcome {
                Ok(reply) if reply.status == 429 || reply.status >= 500 => {
                    last = format!(
                        "{method} {url}: HTTP {} {}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    );
                }
                Ok(reply) => return Ok(reply),
                Err(e) => last = format!("{method} {url}: {e}"),
            }
            if attempt < ATTEMPTS {
                std::thread::sleep(delay);
                delay *= 2;
            }
        }
        Err(Error::Api {
            url,
            message: self.redact(format!("{last} (after {ATTEMPTS} attempts)")),
        })
    }

    fn refused(&self, what: &str, reply: &Reply) -> String {
        self.redact(format!(
            "{what}: HTTP {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
                .chars()
                .take(300)
                .collect::<String>()
        ))
    }

    /// Creates or updates one document; `None` means it was already there
    /// with the same content.
    fn upsert(
        &self,
        collection_path: &str,
        id: &str,
        doc: &Value,
        report: &mut Report,
        name: String,
    ) {
        let one = format!("{collection_path}/{id}");
        let result = (|| -> Result<std::result::Result<&'static str, String>> {
            let existing = self.send(reqwest::Method::GET, &one, None)?;
            match existing.status {
                200 => {
                    let theirs: Value =
                        serde_json::from_slice(&existing.body).unwrap_or(Value::Null);
                    if same_content(doc, &theirs) {
                        return Ok(Ok("unchanged"));
                    }
                    let put = self.send(reqwest::Method::PUT, &one, Some(doc))?;
                    Ok(match put.status {
                        200..=299 => Ok("updated"),
                        _ => Err(self.refused(&format!("PUT {one}"), &put)),
                    })
                }
                404 => {
                    let post = self.send(reqwest::Method::POST, collection_path, Some(doc))?;
                    Ok(match post.status {
                        200..=299 => Ok("created"),
                        // Created meanwhile (another run): update it instead.
                        409 => {
                            let put = self.send(reqwest::Method::PUT, &one, Some(doc))?;
                            match put.status {
                                200..=299 => Ok("updated"),
                                _ => Err(self.refused(&format!("PUT {one}"), &put)),
                            }
                        }
                        _ => Err(self.refused(&format!("POST {collection_path}"), &post)),
                    })
                }
                _ => Ok(Err(self.refused(&format!("GET {one}"), &existing))),
            }
        })();
        match result {
            Ok(Ok("created")) => report.created.push(name),
            Ok(Ok("updated")) => report.updated.push(name),
            Ok(Ok(_)) => report.unchanged.push(name),
            Ok(Err(reason)) => report.failed.push((name, reason)),
            Err(e) => report.failed.push((name, e.to_string())),
        }
    }
}

/// Whether the API's copy holds what we would send: every field of ours,
/// except links (which the API writes itself), is equal in theirs.
/// Datetimes are compared as instants, to the microsecond: APIs re-render
/// them (`…00+00:00` comes back as `…00Z`) and databases drop nanoseconds.
fn same_content(ours: &Value, theirs: &Value) -> bool {
    let (Some(ours), Some(theirs)) = (ours.as_object(), theirs.as_object()) else {
        return false;
    };
    ours.iter()
        .filter(|(k, _)| k.as_str() != "links")
        .all(|(k, v)| field_equivalent(v, theirs.get(k)))
}

/// A field of ours against the same field of theirs; `null` equals absent
/// (APIs drop null fields).
fn field_equivalent(ours: &Value, theirs: Option<&Value>) -> bool {
    match theirs {
        Some(t) => equivalent(ours, t),
        None => ours.is_null(),
    }
}

/// Equal; or the same instant written two ways; or numbers equal to 1e-12
/// (relative); or objects whose every field of ours is equivalent in theirs.
fn equivalent(ours: &Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::String(a), Value::String(b)) if a != b => {
            match (
                chrono::DateTime::parse_from_rfc3339(a),
                chrono::DateTime::parse_from_rfc3339(b),
            ) {
                // Databases keep microseconds (PostgreSQL does).
                (Ok(x), Ok(y)) => x.timestamp_micros() == y.timestamp_micros(),
                _ => false,
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            a.iter().all(|(k, v)| field_equivalent(v, b.get(k)))
        }
        // Numbers come back through other float formatting (Python, SQL):
        // equal to 1e-12, relative.
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => a == b,
        },
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equivalent(x, y))
        }
        _ => ours == theirs,
    }
}

/// Drops the static catalog's structural links (root, parent, self,
/// collection, item, child); the API writes its own.
fn drop_structural_links(doc: &mut Value) {
    if let Some(links) = doc.get_mut("links").and_then(Value::as_array_mut) {
        links.retain(|l| {
            !matches!(
                l["rel"].as_str(),
                Some("root" | "parent" | "self" | "collection" | "item" | "child")
            )
        });
    }
}

/// Registers the catalog in the local directory `root` in the STAC API at
/// `api`: the collection, then its items.
pub fn publish_to_api(root: &Path, api: &str, options: &ApiOptions) -> Result<Report> {
    let local = LocalCatalog::read(root)?;
    let mut items = Vec::new();
    for (path, item) in &local.items {
        let mut item = item.clone();
        if let Some(public) = &options.public_url {
            absolutize(&mut item, path, public);
        }
        let relative: Vec<&str> = item
            .get("assets")
            .and_then(Value::as_object)
            .map(|a| {
                a.values()
                    .filter_map(|x| x["href"].as_str())
                    .filter(|h| is_relative(h))
                    .collect()
            })
            .unwrap_or_default();
        if !relative.is_empty() {
            return Err(Error::Location {
                location: root.join(path).display().to_string(),
                reason: format!(
                    "items in a STAC API need absolute asset hrefs, and {} is relative: publish the files too (--to) or say where they are (--public-url)",
                    relative[0]
                ),
            });
        }
        drop_structural_links(&mut item);
        items.push(item);
    }
    let mut collection = local.collection_with_extent(root)?;
    drop_structural_links(&mut collection);
    let collection_id = collection["id"].as_str().unwrap_or_default().to_string();
    stacforge_core::package::validate_id(&collection_id)?;

    let client = Client::new(api, options)?;
    let mut report = Report::default();
    client.upsert(
        "/collections",
        &collection_id,
        &collection,
        &mut report,
        format!("collection {collection_id}"),
    );
    if !report.failed.is_empty() {
        return Ok(report);
    }
    let items_path = format!("/collections/{collection_id}/items");
    for mut item in items {
        let id = item["id"].as_str().unwrap_or_default().to_string();
        item["collection"] = Value::String(collection_id.clone());
        client.upsert(&items_path, &id, &item, &mut report, format!("item {id}"));
    }
    Ok(report)
}

/// Reads JSON over HTTP(S) at `url` (retrying transient failures).
pub fn get_json(url: &str, options: &ApiOptions) -> Result<Value> {
    let client = Client::new(url, options)?;
    let reply = client.send(reqwest::Method::GET, "", None)?;
    if reply.status != 200 {
        return Err(Error::Api {
            url: url.to_string(),
            message: client.refused("GET", &reply),
        });
    }
    serde_json::from_slice(&reply.body).map_err(|source| Error::Json {
        location: url.to_string(),
        source,
    })
}

/// Reads bytes over HTTP(S) at `url`; `None` when the server says 404.
pub fn get_bytes(url: &str, options: &ApiOptions) -> Result<Option<Vec<u8>>> {
    let client = Client::new(url, options)?;
    let reply = client.send(reqwest::Method::GET, "", None)?;
    match reply.status {
        200 => Ok(Some(reply.body)),
        404 => Ok(None),
        _ => Err(Error::Api {
            url: url.to_string(),
            message: client.refused("GET", &reply),
        }),
    }
}

/// The items an API answers at `url`, every page (following `next`
/// links): an item, an items endpoint (`…/collections/ID/items`), or, with
/// `search` (a STAC API search body: `bbox`, `datetime`, `collections`), the
/// results of `POST {url}/search`.
pub fn items(url: &str, search: Option<&Value>, options: &ApiOptions) -> Result<Vec<Value>> {
    let url = url.trim_end_matches('/');
    let mut page = match search {
        Some(body) => {
            let target = format!("{url}/search");
            let client = Client::new(&target, options)?;
            let reply = client.send(reqwest::Method::POST, "", Some(body))?;
            if reply.status != 200 {
                return Err(Error::Api {
                    url: target,
                    message: client.refused("POST", &reply),
                });
            }
            serde_json::from_slice(&reply.body).map_err(|source| Error::Json {
                location: target,
                source,
            })?
        }
        None => get_json(url, options)?,
    };
    if page["type"] == "Feature" {
        return Ok(vec![page]);
    }
    let mut found = Vec::new();
    for _ in 0..100_000 {
        let features = page["features"].as_array().ok_or_else(|| Error::Api {
            url: url.to_string(),
            message: "neither an item nor a FeatureCollection of items".into(),
        })?;
        found.extend(features.iter().cloned());
        let next = page["links"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["rel"] == "next")
            .cloned();
        let Some(next) = next.filter(|_| !features.is_empty()) else {
            break;
        };
        let href = next["href"].as_str().unwrap_or_default().to_string();
        page = if next["method"] == "POST" {
            let client = Client::new(&href, options)?;
            let reply = client.send(reqwest::Method::POST, "", Some(&next["body"]))?;
            serde_json::from_slice(&reply.body).map_err(|source| Error::Json {
                location: href.clone(),
                source,
            })?
        } else {
            get_json(&href, options)?
        };
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_comparison_ignores_links_and_fields_the_api_adds() {
        let ours = json!({"id": "a", "links": [{"rel": "root"}], "properties": {"x": 1}});
        let theirs =
            json!({"id": "a", "links": [{"rel": "self"}], "properties": {"x": 1}, "extra": true});
        assert!(same_content(&ours, &theirs));
        let changed = json!({"id": "a", "properties": {"x": 2}});
        assert!(!same_content(&ours, &changed));
        let t1 = json!({"properties": {"created": "2026-01-02T03:04:05.123456789+00:00"}});
        let t2 = json!({"properties": {"created": "2026-01-02T03:04:05.123456789Z"}});
        let t3 = json!({"properties": {"created": "2026-01-02T03:04:06Z"}});
        let t4 = json!({"properties": {"created": "2026-01-02T03:04:05.123456Z"}});
        assert!(
            same_content(&t1, &t4),
            "nanoseconds are not kept by databases"
        );
        let n1 = json!({"a": {"x": 30.000659009079158, "code": null}});
        let n2 = json!({"a": {"x": 30.00065900907916}});
        assert!(same_content(&n1, &n2));
        assert!(!same_content(&n1, &json!({"a": {"x": 30.0007}})));
        assert!(same_content(&t1, &t2));
        assert!(!same_content(&t1, &t3));
    }

    #[test]
    fn structural_links_are_dropped_others_kept() {
        let mut doc = json!({"links": [{"rel": "root"}, {"rel": "via"}, {"rel": "derived_from"}, {"rel": "parent"}]});
        drop_structural_links(&mut doc);
        assert_eq!(
            doc["links"],
            json!([{"rel": "via"}, {"rel": "derived_from"}])
        );
    }
}
