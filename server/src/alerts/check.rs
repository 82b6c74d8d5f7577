//! Reading alerting documents: the JSON Schema in `docs/alerts.schema.json` first (its first
//! complaint, with a pointer), then the model's rules, then, for a rule, whether its SQL plans
//! (the parser's line and column), names a stream, and has the condition's column.

use std::sync::LazyLock;

use arrow::datatypes::DataType;
use protocol::alert::{ContactPoint, Policy, Problem, Rule, Silence};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::query::QueryService;

const SCHEMA: &str = include_str!("../../../docs/alerts.schema.json");

/// The definitions a document can be checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Def {
    Rule,
    ContactPoint,
    Silence,
    Policy,
}

impl Def {
    fn name(self) -> &'static str {
        match self {
            Def::Rule => "rule",
            Def::ContactPoint => "contact_point",
            Def::Silence => "silence",
            Def::Policy => "policy",
        }
    }
}

fn validator(def: Def) -> jsonschema::Validator {
    let mut schema: Value = serde_json::from_str(SCHEMA).expect("docs/alerts.schema.json is JSON");
    schema["$ref"] = Value::String(format!("#/$defs/{}", def.name()));
    jsonschema::validator_for(&schema).expect("docs/alerts.schema.json is a valid schema")
}

static VALIDATORS: LazyLock<[jsonschema::Validator; 4]> = LazyLock::new(|| {
    [
        validator(Def::Rule),
        validator(Def::ContactPoint),
        validator(Def::Silence),
        validator(Def::Policy),
    ]
});

/// Checks `document` against the schema's definition, then deserializes it.
pub(crate) fn parse<T: DeserializeOwned>(def: Def, document: &Value) -> Result<T, Problem> {
    let validator = &VALIDATORS[def as usize];
    let mut errors = validator.iter_errors(document);
    if let Some(first) = errors.next() {
        let more = errors.count();
        let mut message = first.to_string();
        if more > 0 {
            message.push_str(&format!(" (and {more} more)"));
        }
        return Err(Problem {
            pointer: first.instance_path().as_str().to_string(),
            message,
        });
    }
    serde_json::from_value(document.clone()).map_err(|err| Problem {
        pointer: String::new(),
        message: err.to_string(),
    })
}

pub(crate) fn rule_document(document: &Value) -> Result<Rule, Problem> {
    let rule: Rule = parse(Def::Rule, document)?;
    rule.check()?;
    Ok(rule)
}

pub(crate) fn contact_point(document: &Value) -> Result<ContactPoint, Problem> {
    let point: ContactPoint = parse(Def::ContactPoint, document)?;
    point.check()?;
    Ok(point)
}

pub(crate) fn silence(document: &Value) -> Result<Silence, Problem> {
    parse(Def::Silence, document)
}

pub(crate) fn policy(document: &Value) -> Result<Policy, Problem> {
    parse(Def::Policy, document)
}

/// Whether the rule's SQL plans, and has the condition's column as a number: the problem at
/// `/sql` or `/condition/column` if not.
pub(crate) async fn rule_sql(rule: &Rule, queries: &QueryService) -> Result<(), Problem> {
    let (plan, _) = queries.analyze(&rule.sql).await.map_err(|err| Problem {
        pointer: "/sql".to_owned(),
        message: ApiError::from(err).into_inner().message,
    })?;
    if let Some(condition) = &rule.condition {
        let schema = plan.schema().as_arrow();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let field = schema
            .field_with_name(&condition.column)
            .map_err(|_| Problem {
                pointer: "/condition/column".to_owned(),
                message: format!(
                    "the query has no column `{}`: its columns are {}",
                    condition.column,
                    columns.join(", ")
                ),
            })?;
        if !field.data_type().is_numeric() && *field.data_type() != DataType::Null {
            return Err(Problem {
                pointer: "/condition/column".to_owned(),
                message: format!(
                    "`{}` is {}, not a number: a condition compares numbers",
                    condition.column,
                    field.data_type()
                ),
            });
        }
    }
    Ok(())
}
