//! `weir user add|list|set-password|remove`: users managed on the data directory's metadata
//! database, for the first admin and for recovery (a running server may have it open: SQLite
//! serializes the writes).

use std::path::Path;

use super::{Role, check_name, check_password, hash_password};
use crate::meta::{self, Meta};

/// Why a user command did nothing.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A name, role or password that is not acceptable, or a user that exists or does not.
    #[error("{0}")]
    Invalid(String),
    /// The metadata database could not be read or written (its error type is internal).
    #[error(transparent)]
    Meta(Box<dyn std::error::Error + Send + Sync>),
}

impl From<meta::Error> for UserError {
    fn from(err: meta::Error) -> UserError {
        match err {
            meta::Error::Exists { .. } | meta::Error::NotFound { .. } => {
                UserError::Invalid(err.to_string())
            }
            other => UserError::Meta(Box::new(other)),
        }
    }
}

/// A line of `weir user list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub name: String,
    pub role: String,
    /// µs since the epoch.
    pub created_at: i64,
}

/// Adds a user with `role` and `password` (hashed with argon2id before it is stored).
pub async fn add(data_dir: &Path, name: &str, role: Role, password: &str) -> Result<(), UserError> {
    check_name(name).map_err(UserError::Invalid)?;
    check_password(password).map_err(UserError::Invalid)?;
    // The first admin is often made before the server first ran.
    std::fs::create_dir_all(data_dir)
        .map_err(|e| UserError::Invalid(format!("cannot create {}: {e}", data_dir.display())))?;
    let meta = Meta::open(data_dir)?;
    let hash = hash(password).await?;
    meta.add_user(name.to_owned(), role.as_str(), hash).await?;
    Ok(())
}

/// Every user, by name.
pub async fn list(data_dir: &Path) -> Result<Vec<UserSummary>, UserError> {
    let meta = open(data_dir)?;
    Ok(meta
        .users()
        .await?
        .into_iter()
        .map(|u| UserSummary {
            name: u.name,
            role: u.role,
            created_at: u.created_at,
        })
        .collect())
}

/// Gives a user a new password.
pub async fn set_password(data_dir: &Path, name: &str, password: &str) -> Result<(), UserError> {
    check_password(password).map_err(UserError::Invalid)?;
    let meta = open(data_dir)?;
    let hash = hash(password).await?;
    meta.set_user_password(name.to_owned(), hash).await?;
    Ok(())
}

/// Removes a user.
pub async fn remove(data_dir: &Path, name: &str) -> Result<(), UserError> {
    let meta = open(data_dir)?;
    meta.remove_user(name.to_owned()).await?;
    Ok(())
}

/// The metadata database of an existing data directory.
fn open(data_dir: &Path) -> Result<Meta, UserError> {
    if !data_dir.is_dir() {
        return Err(UserError::Invalid(format!(
            "no data directory at {}: `weir user add` makes one",
            data_dir.display()
        )));
    }
    Ok(Meta::open(data_dir)?)
}

/// argon2id takes tens of milliseconds of CPU: off the async threads.
async fn hash(password: &str) -> Result<String, UserError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| UserError::Meta(Box::new(e)))
}
