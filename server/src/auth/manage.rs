//! Users managed through the API (the admin page and `/api/v1/users`): listed, added, given
//! another role or password, removed. The last admin is neither removed nor demoted, so that
//! someone can always manage the rest; a new password or a removal ends the user's sessions
//! and closes their live sockets.

use protocol::auth::{NewUser, Role, UserChange, UserInfo};

use super::password::hash_password;
use super::service::{Auth, AuthError, rfc3339};
use super::{check_name, check_password};
use crate::meta;

impl Auth {
    /// Every user, by name.
    pub(crate) async fn users(&self) -> Result<Vec<UserInfo>, AuthError> {
        Ok(self
            .meta()
            .users()
            .await?
            .into_iter()
            .map(|u| UserInfo {
                role: u.role.parse().unwrap_or(Role::Viewer),
                created_at: rfc3339(u.created_at),
                name: u.name,
            })
            .collect())
    }

    /// Adds a user; the first one closes an open server at once.
    pub(crate) async fn add_user(&self, user: NewUser) -> Result<(), AuthError> {
        check_name(&user.name).map_err(AuthError::Invalid)?;
        check_password(&user.password).map_err(AuthError::Invalid)?;
        let hash = hash(user.password).await?;
        self.meta()
            .add_user(user.name, user.role.as_str(), hash)
            .await?;
        self.close();
        Ok(())
    }

    /// Gives `name` the role or password `change` asks for.
    pub(crate) async fn change_user(
        &self,
        name: &str,
        change: UserChange,
    ) -> Result<(), AuthError> {
        if change.role.is_none() && change.password.is_none() {
            return Err(AuthError::Invalid(
                "nothing to change: give a `role`, a `password` or both".to_owned(),
            ));
        }
        if let Some(password) = &change.password {
            check_password(password).map_err(AuthError::Invalid)?;
        }
        if let Some(role) = change.role {
            if role != Role::Admin {
                self.keep_an_admin(name, "demoted").await?;
            }
            self.meta()
                .set_user_role(name.to_owned(), role.as_str())
                .await?;
        }
        if let Some(password) = change.password {
            let sessions = self.meta().user_sessions(name.to_owned()).await?;
            let hash = hash(password).await?;
            self.meta().set_user_password(name.to_owned(), hash).await?;
            for id in sessions {
                self.revoked(&format!("session:{id}"));
            }
        }
        Ok(())
    }

    /// Removes `name`, ends their sessions and closes their live sockets.
    pub(crate) async fn remove_user(&self, name: &str) -> Result<(), AuthError> {
        self.keep_an_admin(name, "removed").await?;
        let sessions = self.meta().user_sessions(name.to_owned()).await?;
        self.meta().remove_user(name.to_owned()).await?;
        for id in sessions {
            self.revoked(&format!("session:{id}"));
        }
        Ok(())
    }

    /// Refuses to take the admin role from `name` if no other admin would be left.
    async fn keep_an_admin(&self, name: &str, what: &str) -> Result<(), AuthError> {
        let users = self.meta().users().await?;
        let is_admin = |role: &str| role.parse() == Ok(Role::Admin);
        let this_is_admin = users.iter().any(|u| u.name == name && is_admin(&u.role));
        let admins = users.iter().filter(|u| is_admin(&u.role)).count();
        if this_is_admin && admins == 1 {
            return Err(AuthError::Invalid(format!(
                "{name} is the last admin and cannot be {what}: make another admin first"
            )));
        }
        Ok(())
    }
}

/// argon2id takes tens of milliseconds of CPU: off the async threads.
async fn hash(password: String) -> Result<String, AuthError> {
    Ok(
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(meta::Error::from)?,
    )
}
