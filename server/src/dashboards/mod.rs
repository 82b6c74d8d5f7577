//! Dashboards: documents checked against `docs/dashboard.schema.json` and the model's own rules,
//! kept in the metadata database (every save a version), or provisioned from files
//! (`--dashboards DIR`, read-only here, reloaded when the files change).

pub(crate) mod provision;
pub(crate) mod source;
pub(crate) mod transfer;

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, RwLock};

use protocol::dashboard::{Dashboard, Found, Listing, Problem, Summary};
use serde_json::Value;

use crate::meta::{self, Meta, VersionRecord};
use provision::Provisioned;

/// The schema every dashboard is checked against: the file in docs/, compiled in.
const SCHEMA: &str = include_str!("../../../docs/dashboard.schema.json");

static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA).expect("docs/dashboard.schema.json is JSON");
    jsonschema::validator_for(&schema).expect("docs/dashboard.schema.json is a valid schema")
});

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("invalid dashboard: {0}")]
    Invalid(Problem),
    #[error("dashboard `{uid}` is provisioned from {}: change the file instead", file.display())]
    Provisioned { uid: String, file: PathBuf },
    #[error(transparent)]
    Meta(#[from] meta::Error),
}

/// Reads a document as a dashboard: the schema first (its first complaint, with a pointer), then
/// the model's rules.
pub(crate) fn parse(document: &Value) -> Result<Dashboard, Problem> {
    let mut errors = VALIDATOR.iter_errors(document);
    if let Some(first) = errors.next() {
        let more = errors.count();
        let pointer = first.instance_path().as_str().to_string();
        let mut message = first.to_string();
        if more > 0 {
            message.push_str(&format!(" (and {more} more)"));
        }
        return Err(Problem { pointer, message });
    }
    let dashboard: Dashboard = serde_json::from_value(document.clone()).map_err(|err| Problem {
        pointer: String::new(),
        message: err.to_string(),
    })?;
    dashboard.check()?;
    Ok(dashboard)
}

/// Every dashboard, from the database and from provisioning files.
#[derive(Clone)]
pub(crate) struct Dashboards {
    meta: Meta,
    provisioned: Arc<RwLock<Provisioned>>,
}

impl Dashboards {
    pub(crate) fn new(meta: Meta, provisioned: Arc<RwLock<Provisioned>>) -> Dashboards {
        Dashboards { meta, provisioned }
    }

    fn provisioned(&self) -> std::sync::RwLockReadGuard<'_, Provisioned> {
        self.provisioned
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Dashboards whose title, uid or tags contain `search` (any case), having every tag of
    /// `tags`; by title.
    pub(crate) async fn list(&self, search: &str, tags: &[String]) -> Result<Listing, Error> {
        let stored = self.meta.dashboards().await?;
        let (mut list, problems) = {
            let provisioned = self.provisioned();
            let list: Vec<Summary> = provisioned
                .dashboards
                .values()
                .map(|p| Summary {
                    uid: p.dashboard.uid.clone(),
                    title: p.dashboard.title.clone(),
                    tags: p.dashboard.tags.clone(),
                    version: p.dashboard.version,
                    updated_at: p.loaded_at,
                    provisioned: Some(p.file.display().to_string()),
                })
                .collect();
            (list, provisioned.problems.clone())
        };
        for d in stored {
            // A provisioned dashboard hides a stored one of the same uid.
            if list.iter().all(|p| p.uid != d.uid) {
                list.push(Summary {
                    uid: d.uid,
                    title: d.title,
                    tags: d.tags,
                    version: d.version,
                    updated_at: d.updated_at,
                    provisioned: None,
                });
            }
        }
        let search = search.to_lowercase();
        list.retain(|d| {
            let matches = search.is_empty()
                || d.title.to_lowercase().contains(&search)
                || d.uid.contains(&search)
                || d.tags.iter().any(|t| t.to_lowercase().contains(&search));
            matches && tags.iter().all(|t| d.tags.contains(t))
        });
        list.sort_by(|a, b| {
            (a.title.to_lowercase(), &a.uid).cmp(&(b.title.to_lowercase(), &b.uid))
        });
        Ok(Listing {
            dashboards: list,
            problems,
        })
    }

    pub(crate) async fn get(&self, uid: &str) -> Result<Found, Error> {
        if let Some(p) = self.provisioned().dashboards.get(uid) {
            return Ok(Found {
                dashboard: p.dashboard.clone(),
                updated_at: p.loaded_at,
                provisioned: Some(p.file.display().to_string()),
            });
        }
        let record = self.meta.dashboard(uid).await?;
        Ok(Found {
            dashboard: record.dashboard,
            updated_at: record.updated_at,
            provisioned: None,
        })
    }

    fn writable(&self, uid: &str) -> Result<(), Error> {
        match self.provisioned().dashboards.get(uid) {
            Some(p) => Err(Error::Provisioned {
                uid: uid.to_string(),
                file: p.file.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Saves a new dashboard; returns its version (1).
    pub(crate) async fn create(&self, dashboard: Dashboard) -> Result<u64, Error> {
        if self.provisioned().dashboards.contains_key(&dashboard.uid) {
            return Err(meta::Error::Exists {
                what: "dashboard",
                key: dashboard.uid,
            }
            .into());
        }
        Ok(self.meta.create_dashboard(dashboard).await?)
    }

    /// Saves `document` as a new dashboard unless one with its uid exists; returns the uid. (The
    /// demo's dashboard: made once, then the user's to change.)
    pub(crate) async fn create_if_absent(&self, document: &str) -> Result<String, Error> {
        let value: Value = serde_json::from_str(document).map_err(|err| {
            Error::Invalid(Problem {
                pointer: String::new(),
                message: err.to_string(),
            })
        })?;
        let dashboard = parse(&value).map_err(Error::Invalid)?;
        let uid = dashboard.uid.clone();
        match self.get(&uid).await {
            Ok(_) => Ok(uid),
            Err(Error::Meta(meta::Error::NotFound { .. })) => {
                self.create(dashboard).await?;
                Ok(uid)
            }
            Err(err) => Err(err),
        }
    }

    /// Saves `dashboard` over the version it names; returns the new version.
    pub(crate) async fn update(&self, dashboard: Dashboard, message: String) -> Result<u64, Error> {
        self.writable(&dashboard.uid)?;
        Ok(self.meta.update_dashboard(dashboard, message).await?)
    }

    pub(crate) async fn delete(&self, uid: &str) -> Result<(), Error> {
        self.writable(uid)?;
        Ok(self.meta.delete_dashboard(uid).await?)
    }

    pub(crate) async fn versions(&self, uid: &str) -> Result<Vec<VersionRecord>, Error> {
        self.writable(uid)?;
        Ok(self.meta.dashboard_versions(uid).await?)
    }

    pub(crate) async fn version(&self, uid: &str, version: u64) -> Result<Dashboard, Error> {
        Ok(self.meta.dashboard_version(uid, version).await?)
    }

    /// Saves version `version` of `uid` again, as the version after `current` (which must still
    /// be the current one); returns the new version.
    pub(crate) async fn restore(
        &self,
        uid: &str,
        version: u64,
        current: u64,
    ) -> Result<u64, Error> {
        self.writable(uid)?;
        let mut old = self.meta.dashboard_version(uid, version).await?;
        old.version = current;
        Ok(self
            .meta
            .update_dashboard(old, format!("restored version {version}"))
            .await?)
    }
}

#[cfg(test)]
mod tests;
