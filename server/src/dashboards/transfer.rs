//! `weir dashboards export DIR` and `weir dashboards import DIR`: the stored dashboards as files
//! (one `<uid>.json` each, the form `--dashboards DIR` provisions), and back.

use std::path::Path;

use crate::meta::{self, Meta};

use protocol::dashboard::FileProblem;

use super::provision;

/// What an import did.
#[derive(Debug, Default)]
pub struct Imported {
    /// Uids saved as new dashboards.
    pub created: Vec<String>,
    /// Uids saved as a new version of a stored dashboard.
    pub updated: Vec<String>,
    /// Uids whose file equals the stored version: nothing saved.
    pub unchanged: Vec<String>,
    /// Files that did not load: where and why.
    pub problems: Vec<String>,
}

/// Writes every stored dashboard of `data_dir` into `out` as `<uid>.json`; returns how many.
pub async fn export(data_dir: &Path, out: &Path) -> Result<usize, crate::Error> {
    let meta = Meta::open(data_dir)?;
    std::fs::create_dir_all(out).map_err(crate::Error::Files)?;
    let list = meta.dashboards().await?;
    for summary in &list {
        let mut dashboard = meta.dashboard(&summary.uid).await?.dashboard;
        // A file is not a save of a version: importing it saves a new one.
        dashboard.version = 0;
        let mut text = serde_json::to_string_pretty(&dashboard).map_err(meta::Error::from)?;
        text.push('\n');
        std::fs::write(out.join(format!("{}.json", dashboard.uid)), text)
            .map_err(crate::Error::Files)?;
    }
    Ok(list.len())
}

/// Saves every dashboard file of `dir` into `data_dir`'s database: new ones as version 1, others
/// as a new version when they differ from the stored one.
pub async fn import(data_dir: &Path, dir: &Path) -> Result<Imported, crate::Error> {
    let meta = Meta::open(data_dir)?;
    let loaded = provision::load(dir);
    let mut imported = Imported {
        problems: loaded.problems.iter().map(describe).collect(),
        ..Imported::default()
    };
    for (uid, file) in loaded.dashboards {
        let mut dashboard = file.dashboard;
        match meta.dashboard(&uid).await {
            Ok(stored) => {
                dashboard.version = stored.dashboard.version;
                if dashboard == stored.dashboard {
                    imported.unchanged.push(uid);
                    continue;
                }
                let message = format!("imported from {}", file.file.display());
                meta.update_dashboard(dashboard, message).await?;
                imported.updated.push(uid);
            }
            Err(meta::Error::NotFound { .. }) => {
                meta.create_dashboard(dashboard).await?;
                imported.created.push(uid);
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(imported)
}

/// `file:line:column: message`, as compilers say it.
pub(crate) fn describe(p: &FileProblem) -> String {
    if p.line == 0 {
        format!("{}: {}", p.file, p.message)
    } else {
        format!("{}:{}:{}: {}", p.file, p.line, p.column, p.message)
    }
}
