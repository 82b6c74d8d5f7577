//! Variables and macros in a panel's SQL, Grafana's way of writing them: `$name`, `${name}`,
//! `$__timeFilter(_time)`, `$__timeGroup(_time)`, `$__interval`, `$__interval_ms`, `$__from`,
//! `$__to`.
//!
//! A value never becomes SQL text: it becomes a string literal, quoted with its quotes doubled
//! (`x' OR 1=1 --` is `'x'' OR 1=1 --'`), a list of them for several values (`'a', 'b'`, for
//! `IN ($name)`), an `INTERVAL` for an interval variable, or with `${name:ident}` a quoted
//! identifier (`"a ""b"""`). The SQL is lexed as DataFusion's parser lexes it (string literals,
//! quoted identifiers, nested comments, dollar-quoted strings), so a `$` inside a comment or a
//! quoted identifier is left alone, and a reference inside a plain string literal (`'%$name%'`)
//! puts the value's text, quotes doubled, into that literal. A reference inside a literal with a
//! prefix (`E'…'`, `q'…'`, `U&'…'`), whose escaping rules differ, is refused.

use std::collections::BTreeMap;
use std::fmt;

use super::time::{self, TimeRange};

/// A variable's current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// One text value.
    Text(String),
    /// Several values (a multi-value variable, or "All"): a list of literals.
    List(Vec<String>),
    /// A duration in µs: `INTERVAL '…'`.
    Interval(i64),
}

/// What SQL is substituted with: the variables' values, the time range and the bucket width.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub variables: &'a BTreeMap<String, Value>,
    pub range: TimeRange,
    /// `$__interval`, µs: from the panel's width and the range ([`TimeRange::interval`]).
    pub interval: i64,
}

/// Why SQL could not be substituted, and where (1-based line and column of the reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstituteError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for SubstituteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for SubstituteError {}

/// Whether `name` can name a variable: `[A-Za-z_][A-Za-z0-9_]*`, not starting with `__`
/// (macros' prefix).
pub fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.starts_with("__")
        && name.len() <= 64
}

/// `value` as an SQL string literal: in single quotes, its quotes doubled.
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `value` as a quoted SQL identifier: in double quotes, its double quotes doubled.
pub fn identifier(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// One page of `sql`'s rows: `limit` rows from row `offset` on, in the query's own order.
///
/// Without a `LIMIT`, `OFFSET` or `FETCH` of its own, the query gets them appended (on a line of
/// its own, so that a trailing `-- comment` cannot swallow them). With one, it becomes a
/// subquery: DataFusion keeps a subquery's order only when the subquery has a limit (it drops an
/// `ORDER BY` in a subquery without one), so the page's rows are the query's first ones in its
/// order either way. Trailing semicolons are dropped.
pub fn page(sql: &str, limit: usize, offset: usize) -> String {
    let inner = sql.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    if has_top_level_limit(inner) {
        format!("SELECT * FROM (\n{inner}\n) AS page LIMIT {limit} OFFSET {offset}")
    } else {
        format!("{inner}\nLIMIT {limit} OFFSET {offset}")
    }
}

/// Whether `sql` has a `LIMIT`, `OFFSET` or `FETCH` outside any parentheses, quotes and
/// comments (one that limits the whole query).
fn has_top_level_limit(sql: &str) -> bool {
    let mut depth = 0usize;
    let mut i = 0;
    while i < sql.len() {
        let rest = &sql[i..];
        let c = rest.chars().next().expect("not at the end");
        let skip = match c {
            '\'' | '"' | '`' => quoted_len(rest, c).unwrap_or(rest.len()),
            '-' if rest.starts_with("--") => rest.find('\n').map_or(rest.len(), |n| n + 1),
            '/' if rest.starts_with("/*") => block_comment_len(rest).unwrap_or(rest.len()),
            '$' => dollar_quoted_len(rest).unwrap_or(1),
            '(' => {
                depth += 1;
                1
            }
            ')' => {
                depth = depth.saturating_sub(1);
                1
            }
            c if is_identifier_part(c) => {
                let len = rest
                    .char_indices()
                    .find(|(_, c)| !is_identifier_part(*c))
                    .map_or(rest.len(), |(n, _)| n);
                let word = &rest[..len];
                if depth == 0
                    && ["limit", "offset", "fetch"]
                        .iter()
                        .any(|k| word.eq_ignore_ascii_case(k))
                {
                    return true;
                }
                len
            }
            c => c.len_utf8(),
        };
        i += skip;
    }
    false
}

/// The SQL of a panel (or a variable's query) with its variables and macros replaced.
pub fn substitute(sql: &str, scope: &Scope<'_>) -> Result<String, SubstituteError> {
    let mut lexer = Lexer {
        sql,
        pos: 0,
        out: String::with_capacity(sql.len() + 64),
        scope,
    };
    lexer.run(sql.len())?;
    Ok(lexer.out)
}

/// Characters DataFusion's (generic) dialect continues an identifier with: a `$` after one of
/// them is part of the identifier, not a reference.
fn is_identifier_part(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '$' | '#' | '@')
}

struct Lexer<'a, 's> {
    sql: &'a str,
    pos: usize,
    out: String,
    scope: &'a Scope<'s>,
}

impl Lexer<'_, '_> {
    fn error(&self, at: usize, message: String) -> SubstituteError {
        let before = &self.sql[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        SubstituteError {
            line,
            column,
            message,
        }
    }

    /// Copies `len` bytes from the input as they are.
    fn copy(&mut self, len: usize) {
        self.out.push_str(&self.sql[self.pos..self.pos + len]);
        self.pos += len;
    }

    /// Lexes up to byte `end`, substituting references in code and in plain string literals.
    fn run(&mut self, end: usize) -> Result<(), SubstituteError> {
        while self.pos < end {
            let rest = &self.sql[self.pos..end];
            let c = rest.chars().next().expect("not at the end");
            let previous = self.sql[..self.pos].chars().next_back();
            match c {
                '\'' => {
                    let prefixed = previous.is_some_and(is_identifier_part);
                    self.string_literal(end, prefixed)?;
                }
                '"' | '`' => {
                    let len = quoted_len(rest, c).ok_or_else(|| {
                        self.error(self.pos, format!("unterminated {c}quoted identifier{c}"))
                    })?;
                    self.copy(len);
                }
                '-' if rest.starts_with("--") => {
                    let len = rest.find('\n').map_or(rest.len(), |i| i + 1);
                    self.copy(len);
                }
                '/' if rest.starts_with("/*") => {
                    let len = block_comment_len(rest)
                        .ok_or_else(|| self.error(self.pos, "unterminated /* comment".into()))?;
                    self.copy(len);
                }
                '$' if !previous.is_some_and(is_identifier_part) => self.dollar(end)?,
                c if is_identifier_part(c) => {
                    let len = rest
                        .char_indices()
                        .find(|(_, c)| !is_identifier_part(*c))
                        .map_or(rest.len(), |(i, _)| i);
                    self.copy(len);
                }
                c => self.copy(c.len_utf8()),
            }
        }
        Ok(())
    }

    /// A `'…'` literal: references inside a plain one put their text in, quotes doubled.
    fn string_literal(&mut self, end: usize, prefixed: bool) -> Result<(), SubstituteError> {
        let start = self.pos;
        let rest = &self.sql[start..end];
        let len = quoted_len(rest, '\'')
            .ok_or_else(|| self.error(start, "unterminated string literal".into()))?;
        let body = &rest[1..len - 1];
        if !body.contains('$') {
            self.copy(len);
            return Ok(());
        }
        self.out.push('\'');
        let mut i = 0;
        while i < body.len() {
            let at = start + 1 + i;
            let tail = &body[i..];
            let Some(reference) = Reference::parse(tail).filter(|r| r.args.is_none()) else {
                let c = tail.chars().next().expect("not at the end");
                self.out.push(c);
                i += c.len_utf8();
                continue;
            };
            if prefixed {
                return Err(self.error(
                    at,
                    format!(
                        "`{}` is inside a prefixed string (E'…', q'…', U&'…'): \
                         write it outside quotes",
                        &tail[..reference.len]
                    ),
                ));
            }
            let text = self.text_in_literal(&reference, at)?;
            self.out.push_str(&text.replace('\'', "''"));
            i += reference.len;
        }
        self.out.push('\'');
        self.pos = start + len;
        Ok(())
    }

    /// The text a reference stands for inside a string literal.
    fn text_in_literal(&self, r: &Reference<'_>, at: usize) -> Result<String, SubstituteError> {
        match r.name {
            "__interval" => Ok(interval_text(self.scope.interval)),
            "__interval_ms" => Ok((self.scope.interval / 1_000).to_string()),
            "__from" | "__to" => {
                let instant = if r.name == "__from" {
                    self.scope.range.from
                } else {
                    self.scope.range.to
                };
                Ok(instant.to_string())
            }
            name => match self.variable(name, at)? {
                Value::Text(text) => Ok(text.clone()),
                Value::Interval(micros) => Ok(interval_text(*micros)),
                Value::List(_) => Err(self.error(
                    at,
                    format!(
                        "${name} has several values and cannot go inside quotes: \
                         write IN (${name})"
                    ),
                )),
            },
        }
    }

    fn variable(&self, name: &str, at: usize) -> Result<&Value, SubstituteError> {
        self.scope
            .variables
            .get(name)
            .ok_or_else(|| self.error(at, format!("unknown variable ${name}")))
    }

    /// A `$` at the start of a token: a dollar-quoted string, a reference, or a placeholder.
    fn dollar(&mut self, end: usize) -> Result<(), SubstituteError> {
        let start = self.pos;
        let rest = &self.sql[start..end];
        if let Some(len) = dollar_quoted_len(rest) {
            self.copy(len);
            return Ok(());
        }
        let Some(reference) = Reference::parse(rest) else {
            self.copy(1);
            return Ok(());
        };
        let text = match (reference.name, reference.args) {
            ("__timeFilter", Some(args)) => {
                let column = self.argument(start, args)?;
                format!("({})", self.scope.range.filter_sql(&column))
            }
            ("__timeGroup", Some(args)) => {
                let column = self.argument(start, args)?;
                format!(
                    "date_bin({}, {column})",
                    time::interval_sql(self.scope.interval)
                )
            }
            ("__timeFilter" | "__timeGroup", None) => {
                return Err(self.error(
                    start,
                    format!(
                        "${} takes a column: ${}(_time)",
                        reference.name, reference.name
                    ),
                ));
            }
            ("__interval", None) => time::interval_sql(self.scope.interval),
            ("__interval_ms", None) => (self.scope.interval / 1_000).to_string(),
            ("__from", None) => self.scope.range.from.sql(),
            ("__to", None) => self.scope.range.to.sql(),
            (name, _) if name.starts_with("__") => {
                return Err(self.error(
                    start,
                    format!(
                        "unknown macro ${name}: macros are $__timeFilter(col), \
                         $__timeGroup(col), $__interval, $__interval_ms, $__from, $__to"
                    ),
                ));
            }
            (name, _) => {
                let value = self.variable(name, start)?;
                match (reference.format, value) {
                    (None, Value::Text(text)) => string_literal(text),
                    (None, Value::List(values)) if values.is_empty() => "NULL".into(),
                    (None, Value::List(values)) => values
                        .iter()
                        .map(|v| string_literal(v))
                        .collect::<Vec<_>>()
                        .join(", "),
                    (None, Value::Interval(micros)) => time::interval_sql(*micros),
                    (Some("ident"), Value::Text(text)) => identifier(text),
                    (Some("ident"), _) => {
                        return Err(self.error(
                            start,
                            format!("${{{name}:ident}} needs a variable with one text value"),
                        ));
                    }
                    (Some(format), _) => {
                        return Err(self.error(
                            start,
                            format!(
                                "unknown format `{format}` in ${{{name}:{format}}}: \
                                 the one format is ident"
                            ),
                        ));
                    }
                }
            }
        };
        // A literal right after `&` would read as U&'…' (a Unicode-escaped string).
        if self.out.ends_with('&') {
            self.out.push(' ');
        }
        self.out.push_str(&text);
        self.pos = start + reference.len;
        Ok(())
    }

    /// A macro's argument (a column or expression; `args` is its byte range from `start`),
    /// itself substituted.
    fn argument(
        &self,
        start: usize,
        (from, to): (usize, usize),
    ) -> Result<String, SubstituteError> {
        let text = &self.sql[start + from..start + to];
        let skipped = text.len() - text.trim_start().len();
        let (from, to) = (start + from + skipped, start + from + text.trim_end().len());
        if from >= to {
            return Err(self.error(start, "the macro needs a column, e.g. (_time)".into()));
        }
        let mut inner = Lexer {
            sql: self.sql,
            pos: from,
            out: String::new(),
            scope: self.scope,
        };
        inner.run(to)?;
        Ok(inner.out)
    }
}

/// `10 seconds`: an interval's text, as inside `INTERVAL '…'`.
fn interval_text(micros: i64) -> String {
    let sql = time::interval_sql(micros);
    sql.trim_start_matches("INTERVAL '")
        .trim_end_matches('\'')
        .to_string()
}

/// A `$name`, `${name}`, `${name:format}` or `$__macro(args)` reference at the start of `text`.
struct Reference<'a> {
    name: &'a str,
    format: Option<&'a str>,
    /// A macro's argument: the byte range, in `text`, between the parentheses after its name.
    args: Option<(usize, usize)>,
    /// Bytes of `text` the reference takes.
    len: usize,
}

impl<'a> Reference<'a> {
    fn parse(text: &'a str) -> Option<Reference<'a>> {
        let body = text.strip_prefix('$')?;
        if let Some(braced) = body.strip_prefix('{') {
            let close = braced.find('}')?;
            let inner = &braced[..close];
            let (name, format) = match inner.split_once(':') {
                Some((name, format)) => (name, Some(format)),
                None => (inner, None),
            };
            if !is_name(name) {
                return None;
            }
            return Some(Reference {
                name,
                format,
                args: None,
                len: 2 + close + 1,
            });
        }
        let len = body
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let name = &body[..len];
        if !is_name(name) {
            return None;
        }
        // Only macros take arguments: `$name(` is a value, then a parenthesis.
        let args = name
            .starts_with("__")
            .then(|| body[len..].strip_prefix('('))
            .flatten()
            .and_then(matching_paren)
            .map(|close| (1 + len + 1, 1 + len + 1 + close));
        Some(Reference {
            name,
            format: None,
            args,
            len: args.map_or(1 + len, |(_, end)| end + 1),
        })
    }
}

fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The index of the `)` closing an already opened parenthesis, skipping quoted text.
fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        match rest.as_bytes()[0] {
            q @ (b'\'' | b'"' | b'`') => {
                i += quoted_len(rest, q as char)?;
                continue;
            }
            b'(' => depth += 1,
            b')' if depth == 0 => return Some(i),
            b')' => depth -= 1,
            _ => {}
        }
        i += rest.chars().next()?.len_utf8();
    }
    None
}

/// Length of a quoted run starting at `text[0] == quote`, a doubled quote standing for one.
pub(crate) fn quoted_len(text: &str, quote: char) -> Option<usize> {
    let mut i = 1;
    loop {
        let close = text[i..].find(quote)? + i;
        if text[close + 1..].starts_with(quote) {
            i = close + 2;
        } else {
            return Some(close + 1);
        }
    }
}

/// Length of a `/* … */` comment, nested ones counted (as DataFusion's dialect does).
fn block_comment_len(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with("/*") {
            depth += 1;
            i += 2;
        } else if text[i..].starts_with("*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Some(i);
            }
        } else {
            i += text[i..].chars().next()?.len_utf8();
        }
    }
    None
}

/// Length of a dollar-quoted string (`$$…$$` or `$tag$…$tag$`) at the start of `text`, if one
/// starts there.
fn dollar_quoted_len(text: &str) -> Option<usize> {
    let body = text.strip_prefix('$')?;
    let tag_len = body
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if !body[tag_len..].starts_with('$') {
        return None;
    }
    let delimiter = &text[..tag_len + 2];
    let content = &text[delimiter.len()..];
    // An unterminated one runs to the end, as the parser reads it.
    let close = content
        .find(delimiter)
        .map_or(content.len(), |i| i + delimiter.len());
    Some(delimiter.len() + close)
}
