//! The gatekeeper: who a request's credentials say its caller is (user by session or password,
//! API token, or no one), logins and their backoff, tokens made and revoked, and the live
//! sockets a revocation closes. Whether the caller may do what a route needs is
//! [`Caller::allows`]; the route layer asks both.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::auth::{CreatedToken, Me, NewToken, Role, Scope, TokenInfo, TokenState, Via};
use storage::now_micros;
use tokio_util::sync::CancellationToken;

use super::access::{Permission, StreamPatterns, role_allows, scopes_allow};
use super::limiter::LoginLimiter;
use super::password::{hash_password, verify_password};
use super::secret::{self, Issued};
use super::{MAX_PASSWORD_BYTES, check_name};
use crate::audit::AUDIT_STREAM;
use crate::meta::{self, Meta, TokenRecord};

/// How long a browser session lasts from its login.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often an open server looks for a user made with `weir user add` beside it.
const OPEN_RECHECK: Duration = Duration::from_secs(2);

/// The longest token name.
const MAX_TOKEN_NAME_CHARS: usize = 100;

/// The same answer for an unknown user and a wrong password.
const WRONG_LOGIN: &str = "wrong user name or password";

/// Who is asking.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// No one, and the server is open (no users yet): may do anything, as before users existed.
    Open,
    /// No one, and credentials are needed: may do only what is public.
    Anonymous,
    /// A user, by a session (its id) or by name and password.
    User {
        name: String,
        role: Role,
        session: Option<String>,
    },
    /// An API token.
    Token {
        id: String,
        name: String,
        scopes: Vec<Scope>,
        streams: StreamPatterns,
    },
}

impl Caller {
    pub(crate) fn allows(&self, permission: Permission) -> bool {
        match self {
            Caller::Open => true,
            Caller::Anonymous => permission == Permission::Public,
            Caller::User { role, .. } => role_allows(*role, permission),
            Caller::Token { scopes, .. } => scopes_allow(scopes, permission),
        }
    }

    /// Whether events may be written to `stream` (an ingest token may be limited to some; the
    /// audit trail is written by Weir alone); `Err` says why not.
    pub(crate) fn may_write(&self, stream: &str) -> Result<(), String> {
        if stream == AUDIT_STREAM {
            return Err(format!(
                "`{stream}` is the audit trail: only Weir writes to it"
            ));
        }
        match self {
            Caller::Token { name, streams, .. } if !streams.allows(stream) => Err(format!(
                "the API token `{name}` may write only to streams matching `{}`, not to `{stream}`",
                streams.text()
            )),
            _ => Ok(()),
        }
    }

    /// Why the caller may not do what `permission` covers, for the 403's message.
    pub(crate) fn refusal(&self, permission: Permission) -> String {
        match self {
            Caller::User { name, role, .. } => format!(
                "{name} is a{} {role}; this needs the {} role",
                if *role == Role::Admin { "n" } else { "" },
                permission.least_role()
            ),
            Caller::Token { name, .. } => format!(
                "the API token `{name}` lacks the `{}` scope this needs",
                permission.least_scope().map_or("", Scope::as_str)
            ),
            Caller::Open | Caller::Anonymous => {
                "log in, or send an API token as `Authorization: Bearer …`".to_owned()
            }
        }
    }

    /// The name that owns what the caller makes and that the audit trail records ("" if none).
    pub(crate) fn name(&self) -> &str {
        match self {
            Caller::User { name, .. } | Caller::Token { name, .. } => name,
            Caller::Open | Caller::Anonymous => "",
        }
    }

    /// The caller as `GET /api/v1/auth/me` tells it; `None` for no one.
    pub(crate) fn me(&self) -> Option<Me> {
        match self {
            Caller::Open => Some(Me {
                name: None,
                role: Role::Admin,
                via: Via::Open,
            }),
            Caller::Anonymous => None,
            Caller::User {
                name,
                role,
                session,
            } => Some(Me {
                name: Some(name.clone()),
                role: *role,
                via: if session.is_some() {
                    Via::Session
                } else {
                    Via::Password
                },
            }),
            Caller::Token { name, scopes, .. } => Some(Me {
                name: Some(name.clone()),
                role: [Role::Admin, Role::Editor, Role::Viewer]
                    .into_iter()
                    .find(|role| {
                        let needs = match role {
                            Role::Admin => Permission::Admin,
                            Role::Editor => Permission::Write,
                            Role::Viewer => Permission::Read,
                        };
                        scopes_allow(scopes, needs)
                    })
                    .unwrap_or(Role::Viewer),
                via: Via::Token,
            }),
        }
    }

    /// What a revocation looks up to close the caller's live sockets.
    fn revocation_key(&self) -> Option<String> {
        match self {
            Caller::Token { id, .. } => Some(format!("token:{id}")),
            Caller::User {
                session: Some(id), ..
            } => Some(format!("session:{id}")),
            _ => None,
        }
    }
}

/// Credentials as a request presents them.
#[derive(Debug)]
pub(crate) enum Credential {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic …`: a user's name and password, or anything and a token.
    Basic { user: String, password: String },
    /// The session cookie's value.
    Session(String),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    /// The credentials are wrong, unknown, expired or revoked.
    #[error("{0}")]
    Unauthenticated(String),
    /// Too many failed logins: wait.
    #[error("too many failed logins: try again in {} s", .0.as_secs().max(1))]
    Throttled(Duration),
    /// A token asked for that cannot be made as asked.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Meta(#[from] meta::Error),
}

/// The gatekeeper, shared by every request. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    meta: Meta,
    /// No users yet, and allowed to run so: everyone may do anything.
    open: AtomicBool,
    limiter: LoginLimiter,
    /// Verified against when the user is unknown, so that answering takes as long.
    dummy_hash: String,
    /// Live sockets by the credential they were opened with: (closed on revocation, sockets).
    live: Mutex<HashMap<String, (CancellationToken, usize)>>,
}

impl Auth {
    pub(crate) fn new(meta: Meta, open: bool) -> Auth {
        Auth {
            inner: Arc::new(Inner {
                meta,
                open: AtomicBool::new(open),
                limiter: LoginLimiter::default(),
                dummy_hash: hash_password("no such user: this hash only takes the time"),
                live: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The caller of a request without credentials.
    pub(crate) fn nobody(&self) -> Caller {
        if self.is_open() {
            Caller::Open
        } else {
            Caller::Anonymous
        }
    }

    /// The metadata database, for the rest of `auth`.
    pub(super) fn meta(&self) -> &Meta {
        &self.inner.meta
    }

    /// Needs credentials from now on (a user exists).
    pub(super) fn close(&self) {
        if self.inner.open.swap(false, Ordering::Relaxed) {
            tracing::info!("a user exists now: every request needs credentials");
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.inner.open.load(Ordering::Relaxed)
    }

    /// While open, looks for users every two seconds; the first one closes the server.
    pub(crate) async fn watch_open(self, stopping: CancellationToken) {
        while self.is_open() {
            tokio::select! {
                () = stopping.cancelled() => return,
                () = tokio::time::sleep(OPEN_RECHECK) => {}
            }
            match self.inner.meta.credential_counts(now_micros()).await {
                Ok((users, _)) if users > 0 => self.close(),
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "cannot count users"),
            }
        }
    }

    /// Who `credential` says the caller is. A session that is unknown, expired or whose user is
    /// gone is no one (the browser is sent to log in), not an error.
    pub(crate) async fn authenticate(
        &self,
        credential: Option<Credential>,
        address: IpAddr,
    ) -> Result<Caller, AuthError> {
        let nobody = self.nobody();
        match credential {
            None => Ok(nobody),
            Some(Credential::Bearer(token)) => self.token(&token).await,
            Some(Credential::Basic { user, password }) => {
                if password.starts_with(secret::TOKEN_PREFIX) {
                    return self.token(&password).await;
                }
                let (name, role) = self.check_password(&user, &password, address).await?;
                Ok(Caller::User {
                    name,
                    role,
                    session: None,
                })
            }
            Some(Credential::Session(text)) => Ok(self.session(&text).await?.unwrap_or(nobody)),
        }
    }

    async fn token(&self, text: &str) -> Result<Caller, AuthError> {
        let unknown = || AuthError::Unauthenticated("unknown API token".to_owned());
        let Some((id, secret)) = secret::parse_token(text) else {
            return Err(AuthError::Unauthenticated(
                "not a Weir API token (one reads weir_<16 hex digits>_<64 hex digits>)".to_owned(),
            ));
        };
        let record = self
            .inner
            .meta
            .token(id.to_owned())
            .await?
            .ok_or_else(unknown)?;
        if !secret::secret_matches(secret, &record.secret_sha256) {
            return Err(unknown());
        }
        let now = now_micros();
        match state(&record, now) {
            TokenState::Active => {}
            TokenState::Revoked => {
                return Err(AuthError::Unauthenticated(format!(
                    "the API token `{}` was revoked",
                    record.name
                )));
            }
            TokenState::Expired => {
                return Err(AuthError::Unauthenticated(format!(
                    "the API token `{}` expired at {}",
                    record.name,
                    rfc3339(record.expires_at.unwrap_or_default())
                )));
            }
        }
        let meta = self.inner.meta.clone();
        let touched = record.id.clone();
        tokio::spawn(async move {
            if let Err(err) = meta.touch_token(touched, now).await {
                tracing::warn!(%err, "cannot record a token's use");
            }
        });
        let streams = StreamPatterns::parse(&record.streams).map_err(AuthError::Invalid)?;
        Ok(Caller::Token {
            id: record.id,
            name: record.name,
            scopes: scopes(&record.scopes),
            streams,
        })
    }

    async fn session(&self, text: &str) -> Result<Option<Caller>, AuthError> {
        let Some((id, secret)) = secret::parse_session(text) else {
            return Ok(None);
        };
        let Some(record) = self.inner.meta.session(id.to_owned()).await? else {
            return Ok(None);
        };
        if !secret::secret_matches(secret, &record.secret_sha256)
            || record.expires_at <= now_micros()
        {
            return Ok(None);
        }
        Ok(Some(Caller::User {
            name: record.user_name,
            role: record.role.parse().unwrap_or(Role::Viewer),
            session: Some(record.id),
        }))
    }

    /// The user's name and role if `password` is theirs. An unknown user takes as long and
    /// gets the same answer as a wrong password; failures past a few make the next wait.
    async fn check_password(
        &self,
        name: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<(String, Role), AuthError> {
        let limiter = &self.inner.limiter;
        limiter
            .check(name, address, Instant::now())
            .map_err(AuthError::Throttled)?;
        let user = match check_name(name) {
            Ok(()) => self.inner.meta.user(name.to_owned()).await?,
            Err(_) => None,
        };
        let phc = user.as_ref().map_or_else(
            || self.inner.dummy_hash.clone(),
            |u| u.password_hash.clone(),
        );
        // A password longer than any accepted is wrong; it is not hashed in full either.
        let candidate: String = if password.len() > MAX_PASSWORD_BYTES {
            String::new()
        } else {
            password.to_owned()
        };
        let matches = tokio::task::spawn_blocking(move || verify_password(&candidate, &phc))
            .await
            .map_err(meta::Error::from)?;
        match user {
            Some(user) if matches && password.len() <= MAX_PASSWORD_BYTES => {
                limiter.succeeded(name, address);
                Ok((user.name, user.role.parse().unwrap_or(Role::Viewer)))
            }
            _ => {
                limiter.failed(name, address, Instant::now());
                Err(AuthError::Unauthenticated(WRONG_LOGIN.to_owned()))
            }
        }
    }

    /// Logs a user in: a new session, and the cookie value that names it (given once).
    pub(crate) async fn login(
        &self,
        name: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<(Caller, String), AuthError> {
        let (name, role) = self.check_password(name, password, address).await?;
        let Issued {
            id,
            secret_sha256,
            text,
        } = secret::new_session();
        let expires_at = now_micros() + micros(SESSION_LIFETIME);
        self.inner
            .meta
            .add_session(
                id.clone(),
                secret_sha256,
                name.clone(),
                address.to_string(),
                expires_at,
            )
            .await?;
        let caller = Caller::User {
            name,
            role,
            session: Some(id),
        };
        Ok((caller, text))
    }

    /// Ends the caller's session, if it has one, and closes the sockets opened with it.
    pub(crate) async fn logout(&self, caller: &Caller) -> Result<(), AuthError> {
        if let Caller::User {
            session: Some(id), ..
        } = caller
        {
            self.inner.meta.remove_session(id.clone()).await?;
            self.revoked(&format!("session:{id}"));
        }
        Ok(())
    }

    /// Makes a token for `owner` as `request` asks; its text is in the reply, and nowhere else.
    pub(crate) async fn create_token(
        &self,
        owner: &Caller,
        request: NewToken,
    ) -> Result<CreatedToken, AuthError> {
        let name = request.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_TOKEN_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(AuthError::Invalid(format!(
                "a token's name is 1 to {MAX_TOKEN_NAME_CHARS} characters"
            )));
        }
        let mut scopes = request.scopes;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(AuthError::Invalid(
                "a token needs at least one scope: ingest, read, write or admin".to_owned(),
            ));
        }
        let streams = StreamPatterns::parse(&request.streams).map_err(AuthError::Invalid)?;
        if !streams.text().is_empty() && !scopes.contains(&Scope::Ingest) {
            return Err(AuthError::Invalid(
                "`streams` limits what a token may ingest: give it the ingest scope, or leave \
                 `streams` out"
                    .to_owned(),
            ));
        }
        let now = now_micros();
        let expires_at = match request.expires_at.as_deref() {
            None | Some("") => None,
            Some(text) => {
                let at = chrono::DateTime::parse_from_rfc3339(text)
                    .map_err(|e| {
                        AuthError::Invalid(format!(
                            "expires_at `{text}` is not an RFC 3339 time \
                             (2027-01-31T00:00:00Z): {e}"
                        ))
                    })?
                    .timestamp_micros();
                if at <= now {
                    return Err(AuthError::Invalid(format!(
                        "expires_at `{text}` is in the past"
                    )));
                }
                Some(at)
            }
        };
        let Issued {
            id,
            secret_sha256,
            text,
        } = secret::new_token();
        let record = TokenRecord {
            id: id.clone(),
            name: name.to_owned(),
            secret_sha256,
            owner: owner.name().to_owned(),
            scopes: scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
            streams: streams.text(),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        self.inner.meta.add_token(record).await?;
        Ok(CreatedToken { id, token: text })
    }

    /// Every token, newest first, without secrets.
    pub(crate) async fn tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        let now = now_micros();
        Ok(self
            .inner
            .meta
            .tokens()
            .await?
            .into_iter()
            .map(|t| TokenInfo {
                state: state(&t, now),
                scopes: scopes(&t.scopes),
                created_at: rfc3339(t.created_at),
                expires_at: t.expires_at.map(rfc3339),
                last_used_at: t.last_used_at.map(rfc3339),
                id: t.id,
                name: t.name,
                owner: t.owner,
                streams: t.streams,
            })
            .collect())
    }

    /// Revokes a token: its next request is refused, and its live sockets close now.
    pub(crate) async fn revoke_token(&self, id: &str) -> Result<(), AuthError> {
        self.inner
            .meta
            .revoke_token(id.to_owned(), now_micros())
            .await?;
        self.revoked(&format!("token:{id}"));
        Ok(())
    }

    /// What a live socket opened by `caller` waits on: cancelled when the credential it was
    /// opened with is revoked (never, for credentials that cannot be).
    pub(crate) fn live_watch(&self, caller: &Caller) -> LiveWatch {
        let Some(key) = caller.revocation_key() else {
            return LiveWatch {
                revoked: CancellationToken::new(),
                entry: None,
            };
        };
        let mut live = self.lock_live();
        let (token, sockets) = live.entry(key.clone()).or_default();
        *sockets += 1;
        LiveWatch {
            revoked: token.clone(),
            entry: Some((Arc::clone(&self.inner), key)),
        }
    }

    /// Closes the live sockets opened with the credential `key` names.
    pub(super) fn revoked(&self, key: &str) {
        if let Some((token, _)) = self.lock_live().remove(key) {
            token.cancel();
        }
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, HashMap<String, (CancellationToken, usize)>> {
        lock(&self.inner.live)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Held by a live socket: [`LiveWatch::revoked`] is cancelled when its credential is revoked.
pub(crate) struct LiveWatch {
    pub(crate) revoked: CancellationToken,
    entry: Option<(Arc<Inner>, String)>,
}

impl Drop for LiveWatch {
    fn drop(&mut self) {
        let Some((inner, key)) = &self.entry else {
            return;
        };
        let mut live = lock(&inner.live);
        if let Some((_, sockets)) = live.get_mut(key) {
            *sockets -= 1;
            if *sockets == 0 {
                live.remove(key);
            }
        }
    }
}

fn state(token: &TokenRecord, now: i64) -> TokenState {
    if token.revoked_at.is_some() {
        TokenState::Revoked
    } else if token.expires_at.is_some_and(|at| at <= now) {
        TokenState::Expired
    } else {
        TokenState::Active
    }
}

fn scopes(text: &str) -> Vec<Scope> {
    text.split(',').filter_map(|s| s.parse().ok()).collect()
}

pub(super) fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
