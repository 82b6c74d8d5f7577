//! What receivers are sent: Alertmanager's webhook payload (version 4), a Slack incoming-webhook
//! message, and the alerts of Alertmanager's v2 API.

use std::collections::BTreeMap;

use protocol::dashboard::time::rfc3339;
use serde_json::{Value, json};

use super::Alert;

/// Alertmanager's zero time, which its payloads put in `endsAt` of a firing alert.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One notification: a group's alerts for one receiver.
#[derive(Debug, Clone)]
pub(crate) struct Notification {
    pub(crate) group_key: String,
    /// The contact point's uid.
    pub(crate) receiver: String,
    pub(crate) group_labels: BTreeMap<String, String>,
    pub(crate) alerts: Vec<Alert>,
    pub(crate) external_url: String,
}

impl Notification {
    pub(crate) fn firing(&self) -> usize {
        self.alerts.iter().filter(|a| a.ends_at.is_none()).count()
    }

    pub(crate) fn status(&self) -> &'static str {
        if self.firing() > 0 {
            "firing"
        } else {
            "resolved"
        }
    }

    fn generator_url(&self, alert: &Alert) -> String {
        format!("{}/alerts/{}", self.external_url, alert.rule_uid)
    }

    /// Alertmanager's webhook payload, version 4.
    pub(crate) fn webhook(&self) -> Value {
        let alerts: Vec<Value> = self
            .alerts
            .iter()
            .map(|a| {
                json!({
                    "status": if a.ends_at.is_none() { "firing" } else { "resolved" },
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at),
                    "endsAt": a.ends_at.map_or(ZERO_TIME.to_owned(), rfc3339),
                    "generatorURL": self.generator_url(a),
                    "fingerprint": a.fingerprint,
                })
            })
            .collect();
        json!({
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": 0,
            "status": self.status(),
            "receiver": self.receiver,
            "groupLabels": self.group_labels,
            "commonLabels": common(self.alerts.iter().map(|a| &a.labels)),
            "commonAnnotations": common(self.alerts.iter().map(|a| &a.annotations)),
            "externalURL": self.external_url,
            "alerts": alerts,
        })
    }

    /// A Slack message: a title line, one line per alert (its summary when it has one), a link
    /// back to each rule, and a picture of the rule's panel when it was made from one.
    pub(crate) fn slack(&self, channel: Option<&str>) -> Value {
        let firing = self.firing();
        let resolved = self.alerts.len() - firing;
        let name = self
            .group_labels
            .get("alertname")
            .or_else(|| self.alerts.first().and_then(|a| a.labels.get("alertname")))
            .cloned()
            .unwrap_or_else(|| "alerts".to_owned());
        let title = if firing > 0 {
            format!("[FIRING:{firing}] {name}")
        } else {
            format!("[RESOLVED:{resolved}] {name}")
        };
        let mut lines = Vec::new();
        for a in &self.alerts {
            let mark = if a.ends_at.is_none() { "🔴" } else { "✅" };
            let labels: Vec<String> = a
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "alertname")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let summary = a
                .annotations
                .get("summary")
                .or_else(|| a.annotations.get("description"))
                .cloned()
                .unwrap_or_default();
            lines.push(format!(
                "{mark} *{}* {}{}\n<{}|Open the rule>",
                a.labels.get("alertname").map_or("", String::as_str),
                labels.join(", "),
                if summary.is_empty() {
                    String::new()
                } else {
                    format!(": {summary}")
                },
                self.generator_url(a)
            ));
        }
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": title}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}}),
        ];
        if let Some(panel) = self.alerts.iter().find_map(|a| a.panel.as_ref()) {
            blocks.push(json!({
                "type": "image",
                "image_url": format!(
                    "{}/api/v1/dashboards/{}/panels/{}/render.png?from=now-1h&to=now",
                    self.external_url, panel.dashboard, panel.panel
                ),
                "alt_text": name,
            }));
        }
        let mut message = json!({"text": title, "blocks": blocks});
        if let Some(channel) = channel {
            message["channel"] = json!(channel);
        }
        message
    }

    /// The body of Alertmanager's `POST /api/v2/alerts`: a firing alert ends `valid_for` after
    /// now unless sent again (as Prometheus does), a resolved one when it resolved.
    pub(crate) fn alertmanager(&self, now: i64, valid_for: i64) -> Value {
        Value::Array(
            self.alerts
                .iter()
                .map(|a| {
                    json!({
                        "labels": a.labels,
                        "annotations": a.annotations,
                        "startsAt": rfc3339(a.starts_at),
                        "endsAt": rfc3339(a.ends_at.unwrap_or(now + valid_for)),
                        "generatorURL": self.generator_url(a),
                    })
                })
                .collect(),
        )
    }
}

/// The pairs every map has.
fn common<'a>(
    mut maps: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut common = first.clone();
    for map in maps {
        common.retain(|k, v| map.get(k) == Some(v));
    }
    common
}
