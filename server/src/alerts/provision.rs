//! Alerting as code (`weir serve --alerts DIR`): every `*.yaml`, `*.yml` and `*.json` file of a
//! directory may hold `contact_points`, `rules`, `silences` (each with its `id`) and one
//! `policy`. They are saved in the metadata database marked with their file, so the API refuses
//! to change them; when the files change they are saved again, and those no file holds any more
//! are deleted. A document that does not load is reported (file, line, column, what) and the
//! others are applied; while one does not load, the files are applied again every 10 s (a rule
//! over a stream that does not exist yet loads once it does).

use std::path::{Path, PathBuf};

use protocol::alert::{ContactPoint, Policy, Rule, Silence};
use protocol::dashboard::FileProblem;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::settings::{POLICY, check_silence};
use super::{Alerts, Error, check};
use crate::dashboards::provision::{POLL, files, fingerprint};
use crate::dashboards::source;
use crate::meta::{self, Kind};

/// Files larger than this are refused rather than read.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// One document of a file, and where it is.
struct Document {
    value: Value,
    file: String,
    source: std::sync::Arc<source::Source>,
    pointer: String,
}

impl Document {
    fn problem(&self, pointer: &str, message: String) -> FileProblem {
        let pointer = format!("{}{pointer}", self.pointer);
        let at = self.source.position(&pointer);
        FileProblem {
            file: self.file.clone(),
            line: at.line,
            column: at.column,
            message: format!("{pointer}: {message}"),
        }
    }
}

/// What the files hold, not yet checked.
#[derive(Default)]
struct Files {
    contact_points: Vec<Document>,
    rules: Vec<Document>,
    silences: Vec<Document>,
    policy: Option<Document>,
    problems: Vec<FileProblem>,
}

fn read(dir: &Path) -> Files {
    let mut found = Files::default();
    let list = match files(dir) {
        Ok(list) => list,
        Err(err) => {
            found.problems.push(FileProblem {
                file: dir.display().to_string(),
                line: 0,
                column: 0,
                message: format!("cannot read the alerts directory: {err}"),
            });
            return found;
        }
    };
    for path in list {
        read_file(&path, &mut found);
    }
    found
}

fn read_file(path: &PathBuf, found: &mut Files) {
    let file = path.display().to_string();
    let problem = |line, column, message| FileProblem {
        file: file.clone(),
        line,
        column,
        message,
    };
    let text = match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            let message = format!("an alerts file is at most {MAX_FILE_BYTES} bytes");
            return found.problems.push(problem(0, 0, message));
        }
        _ => match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) => {
                return found
                    .problems
                    .push(problem(0, 0, format!("cannot read: {err}")));
            }
        },
    };
    let json = path.extension().is_some_and(|e| e == "json");
    let parsed = match source::read(&text, json) {
        Ok(parsed) => std::sync::Arc::new(parsed),
        Err(err) => {
            let at = err.position;
            return found
                .problems
                .push(problem(at.line, at.column, err.message));
        }
    };
    let Some(top) = parsed.value.as_object() else {
        let message = "an alerts file is an object of contact_points, rules, silences, policy";
        return found.problems.push(problem(1, 1, message.to_owned()));
    };
    let document = |value: &Value, pointer: String| Document {
        value: value.clone(),
        file: file.clone(),
        source: std::sync::Arc::clone(&parsed),
        pointer,
    };
    for (key, value) in top {
        let list = match key.as_str() {
            "contact_points" => &mut found.contact_points,
            "rules" => &mut found.rules,
            "silences" => &mut found.silences,
            "policy" => {
                found.policy = Some(document(value, "/policy".to_owned()));
                continue;
            }
            other => {
                let at = parsed.position(&format!("/{other}"));
                let message = format!(
                    "/{other}: unknown: an alerts file holds contact_points, rules, silences, policy"
                );
                found.problems.push(problem(at.line, at.column, message));
                continue;
            }
        };
        match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    list.push(document(item, format!("/{key}/{i}")));
                }
            }
            None => {
                let at = parsed.position(&format!("/{key}"));
                found
                    .problems
                    .push(problem(at.line, at.column, format!("/{key}: a list")));
            }
        }
    }
}

fn located(document: &Document, err: Error) -> FileProblem {
    match err {
        Error::Invalid { problem, .. } => document.problem(&problem.pointer, problem.message),
        other => document.problem("", other.to_string()),
    }
}

impl Alerts {
    /// Applies the files of `dir`: saves what changed, deletes what went. Returns the problems.
    pub(crate) async fn provision(&self, dir: &Path) -> Vec<FileProblem> {
        let dir2 = dir.to_path_buf();
        let found = tokio::task::spawn_blocking(move || read(&dir2))
            .await
            .unwrap_or_default();
        let _edit = self.inner.edits.lock().await;
        let mut problems = found.problems;
        let mut keep = Vec::new();
        for d in &found.contact_points {
            let result = match check::contact_point(&d.value) {
                Ok(point) => {
                    keep.push((Kind::ContactPoint, point.uid.clone()));
                    self.provide(
                        Kind::ContactPoint,
                        &point.uid.clone(),
                        point,
                        &d.file,
                        |s, p| Box::pin(s.put_contact_point(p.0, p.1, p.2)),
                    )
                    .await
                }
                Err(problem) => Err(super::invalid("contact point")(problem)),
            };
            problems.extend(result.err().map(|e| located(d, e)));
        }
        if let Some(d) = &found.policy {
            let result = match check::policy(&d.value) {
                Ok(policy) => {
                    keep.push((Kind::Policy, POLICY.to_owned()));
                    self.provide(Kind::Policy, POLICY, policy, &d.file, |s, p| {
                        Box::pin(s.put_policy(p.0, p.1, p.2))
                    })
                    .await
                }
                Err(problem) => Err(super::invalid("notification policy")(problem)),
            };
            problems.extend(result.err().map(|e| located(d, e)));
        }
        for d in &found.silences {
            let result = match check::silence(&d.value) {
                Ok(silence) if silence.id.is_empty() => Err(Error::Invalid {
                    what: "silence",
                    problem: protocol::alert::Problem {
                        pointer: "/id".to_owned(),
                        message: "a provisioned silence needs an id".to_owned(),
                    },
                }),
                Ok(silence) => match check_silence(&silence) {
                    Ok(_) => {
                        keep.push((Kind::Silence, silence.id.clone()));
                        self.provide(
                            Kind::Silence,
                            &silence.id.clone(),
                            silence,
                            &d.file,
                            |s, p| Box::pin(s.put_silence(p.0, p.1, p.2)),
                        )
                        .await
                    }
                    Err(err) => Err(err),
                },
                Err(problem) => Err(super::invalid("silence")(problem)),
            };
            problems.extend(result.err().map(|e| located(d, e)));
        }
        for d in &found.rules {
            let result = match self.check_rule(&d.value).await {
                Ok(rule) => {
                    keep.push((Kind::Rule, rule.uid.clone()));
                    self.provide(Kind::Rule, &rule.uid.clone(), rule, &d.file, |s, p| {
                        Box::pin(s.put_rule(p.0, p.1, p.2))
                    })
                    .await
                }
                Err(err) => Err(err),
            };
            problems.extend(result.err().map(|e| located(d, e)));
        }
        if let Err(err) = self.unprovide(&keep).await {
            tracing::warn!(%err, "provisioned alerting documents not removed");
        }
        problems
    }

    /// Saves a provisioned document when it differs from the stored one (or is new). A document
    /// made through the API of the same key is taken over by the file.
    async fn provide<T>(
        &self,
        kind: Kind,
        key: &str,
        document: T,
        file: &str,
        put: impl for<'a> FnOnce(
            &'a Alerts,
            (T, u64, String),
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, Error>> + Send + 'a>,
        >,
    ) -> Result<(), Error>
    where
        T: serde::Serialize
            + serde::de::DeserializeOwned
            + PartialEq
            + Clone
            + Send
            + 'static
            + Versioned,
    {
        let expected = match self.inner.meta.document::<T>(kind, key).await {
            Ok(stored) => {
                let mut document = document.clone();
                document.set_version(stored.document.version());
                if stored.document == document && stored.source == file {
                    return Ok(());
                }
                stored.version
            }
            Err(meta::Error::NotFound { .. }) => 0,
            Err(err) => return Err(err.into()),
        };
        put(self, (document, expected, file.to_owned())).await?;
        Ok(())
    }

    /// Deletes provisioned documents the files no longer hold.
    async fn unprovide(&self, keep: &[(Kind, String)]) -> Result<(), Error> {
        let kept = |kind: Kind, key: &str| keep.iter().any(|(k, s)| *k == kind && s == key);
        let meta = &self.inner.meta;
        for stored in meta.documents::<Rule>(Kind::Rule).await? {
            if !stored.source.is_empty() && !kept(Kind::Rule, &stored.document.uid) {
                self.remove_rule(&stored.document.uid).await?;
            }
        }
        for stored in meta.documents::<Silence>(Kind::Silence).await? {
            if !stored.source.is_empty() && !kept(Kind::Silence, &stored.document.id) {
                meta.delete_document(Kind::Silence, &stored.document.id)
                    .await?;
            }
        }
        for stored in meta.documents::<ContactPoint>(Kind::ContactPoint).await? {
            if !stored.source.is_empty() && !kept(Kind::ContactPoint, &stored.document.uid) {
                meta.delete_document(Kind::ContactPoint, &stored.document.uid)
                    .await?;
            }
        }
        if let Ok(stored) = meta.document::<Policy>(Kind::Policy, POLICY).await
            && !stored.source.is_empty()
            && !kept(Kind::Policy, POLICY)
        {
            meta.delete_document(Kind::Policy, POLICY).await?;
        }
        self.reload_routing().await?;
        Ok(())
    }
}

/// Documents that carry their stored version (rules do; the others are compared without one).
pub(super) trait Versioned {
    fn version(&self) -> u64 {
        0
    }
    fn set_version(&mut self, _version: u64) {}
}

impl Versioned for Rule {
    fn version(&self) -> u64 {
        self.version
    }
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}
impl Versioned for ContactPoint {}
impl Versioned for Policy {}
impl Versioned for Silence {}

/// Logs what a provisioning found wrong.
pub(crate) fn report(problems: &[FileProblem]) {
    for p in problems {
        tracing::warn!(file = %p.file, line = p.line, column = p.column,
            "alerting document not loaded: {}", p.message);
    }
}

/// While a document does not load, the files are applied again this often: a rule over a
/// stream that does not exist yet loads once the stream does.
const RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// Applies `dir` now and whenever its files change, until `stop`.
pub(crate) async fn watch(alerts: Alerts, dir: PathBuf, stop: CancellationToken) {
    let mut seen = None;
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut reported: Vec<FileProblem> = Vec::new();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let dir2 = dir.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || fingerprint(&dir2)).await else {
            continue;
        };
        let due = retry_at.is_some_and(|at| tokio::time::Instant::now() >= at);
        if seen.as_ref() == Some(&now) && !due {
            continue;
        }
        let problems = alerts.provision(&dir).await;
        // The same problems again (a retry) are not news.
        if problems != reported {
            report(&problems);
            tracing::info!(dir = %dir.display(), problems = problems.len(), "alerting provisioned");
        }
        retry_at = (!problems.is_empty()).then(|| tokio::time::Instant::now() + RETRY);
        seen = Some(now);
        reported = problems;
    }
}
