//! What the SQL workbench's editor offers at the caret: the streams after `FROM` or `JOIN`, a
//! stream's columns after `stream.`, and elsewhere the columns of the streams the query names,
//! SQL keywords and functions. A name that is a keyword or not a plain lowercase identifier is
//! inserted in double quotes (`FROM "order"`), so that what the editor writes parses.

/// The streams and their columns, as `system.columns` lists them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Catalog {
    pub(crate) streams: Vec<Table>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    pub(crate) name: String,
    /// Name and Arrow type of each column, in order.
    pub(crate) columns: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Column,
    Keyword,
    Function,
    Stream,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Column => "column",
            Kind::Keyword => "keyword",
            Kind::Function => "function",
            Kind::Stream => "stream",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Suggestion {
    pub(crate) label: String,
    /// What replaces the word at the caret.
    pub(crate) insert: String,
    pub(crate) kind: Kind,
    /// A column's type (and stream), a function's use.
    pub(crate) detail: String,
}

/// Suggestions for the word from byte `from` to byte `to` (the caret is between).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Completion {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) suggestions: Vec<Suggestion>,
}

/// At most this many suggestions.
const MAX: usize = 40;

/// Words that break a query where a name was meant: names equal to one are quoted.
const RESERVED: &[&str] = &[
    "ALL",
    "AND",
    "ANALYZE",
    "AS",
    "ASC",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CREATE",
    "CROSS",
    "DELETE",
    "DESC",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXPLAIN",
    "FALSE",
    "FETCH",
    "FILTER",
    "FOR",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "ILIKE",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "LIMIT",
    "NATURAL",
    "NOT",
    "NULL",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "RIGHT",
    "SELECT",
    "SET",
    "SHOW",
    "TABLE",
    "THEN",
    "TO",
    "TRUE",
    "UNION",
    "UPDATE",
    "USER",
    "USING",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
];

/// Keywords offered (some as the phrases they begin).
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT JOIN",
    "INNER JOIN",
    "ON",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS NULL",
    "IS NOT NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "UNION ALL",
    "WITH",
    "ASC",
    "DESC",
    "NULLS LAST",
    "EXPLAIN",
    "INTERVAL",
    "FILTER (WHERE",
    "OVER (",
    "PARTITION BY",
];

/// Functions offered, with what they take.
const FUNCTIONS: &[(&str, &str)] = &[
    ("count", "count(*) or count(expr)"),
    ("sum", "sum(expr)"),
    ("avg", "avg(expr)"),
    ("min", "min(expr)"),
    ("max", "max(expr)"),
    ("median", "median(expr)"),
    ("approx_distinct", "approx_distinct(expr)"),
    (
        "approx_percentile_cont",
        "approx_percentile_cont(expr, 0.99)",
    ),
    ("approx_median", "approx_median(expr)"),
    ("stddev", "stddev(expr)"),
    ("array_agg", "array_agg(expr)"),
    ("string_agg", "string_agg(expr, ', ')"),
    ("first_value", "first_value(expr ORDER BY …)"),
    ("last_value", "last_value(expr ORDER BY …)"),
    ("row_number", "row_number() OVER (…)"),
    ("rank", "rank() OVER (…)"),
    ("lag", "lag(expr) OVER (…)"),
    ("lead", "lead(expr) OVER (…)"),
    ("date_trunc", "date_trunc('minute', _time)"),
    ("date_bin", "date_bin(INTERVAL '5 minutes', _time)"),
    ("date_part", "date_part('hour', _time)"),
    ("now", "now()"),
    ("to_timestamp", "to_timestamp(text or seconds)"),
    ("to_unixtime", "to_unixtime(_time)"),
    ("to_char", "to_char(_time, '%Y-%m-%d')"),
    ("coalesce", "coalesce(a, b, …)"),
    ("nullif", "nullif(a, b)"),
    ("greatest", "greatest(a, b, …)"),
    ("least", "least(a, b, …)"),
    ("lower", "lower(text)"),
    ("upper", "upper(text)"),
    ("length", "length(text)"),
    ("concat", "concat(a, b, …)"),
    ("substr", "substr(text, start, length)"),
    ("split_part", "split_part(text, '/', 2)"),
    ("starts_with", "starts_with(text, prefix)"),
    ("strpos", "strpos(text, part)"),
    ("regexp_like", "regexp_like(text, pattern)"),
    ("regexp_replace", "regexp_replace(text, pattern, with)"),
    ("round", "round(x, digits)"),
    ("abs", "abs(x)"),
    ("floor", "floor(x)"),
    ("ceil", "ceil(x)"),
    ("sqrt", "sqrt(x)"),
    ("ln", "ln(x)"),
    ("log10", "log10(x)"),
    ("power", "power(x, y)"),
    ("try_cast", "try_cast(expr AS type)"),
    ("arrow_typeof", "arrow_typeof(expr)"),
];

/// `name` as the editor writes it: as it is when it is a plain lowercase identifier and no
/// keyword, else in double quotes.
pub(crate) fn name_in_sql(name: &str) -> String {
    let plain = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !RESERVED.contains(&name.to_ascii_uppercase().as_str());
    if plain {
        name.to_owned()
    } else {
        protocol::dashboard::substitute::identifier(name)
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Where the caret is as the lexer sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Code,
    /// In a string literal or a comment: nothing to offer.
    Quiet,
    /// In a double-quoted name that starts at this byte.
    Quoted(usize),
}

fn place(before: &str) -> Place {
    let bytes = before.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => match before[i + 1..].find('\'') {
                Some(n) => i += n + 2,
                None => return Place::Quiet,
            },
            b'"' => match before[i + 1..].find('"') {
                Some(n) => i += n + 2,
                None => return Place::Quoted(i),
            },
            b'-' if before[i..].starts_with("--") => match before[i..].find('\n') {
                Some(n) => i += n + 1,
                None => return Place::Quiet,
            },
            b'/' if before[i..].starts_with("/*") => match before[i + 2..].find("*/") {
                Some(n) => i += n + 4,
                None => return Place::Quiet,
            },
            _ => i += 1,
        }
    }
    Place::Code
}

/// The streams `sql` reads (after `FROM` or `JOIN`), and the aliases it gives them.
fn named_streams<'c>(sql: &str, catalog: &'c Catalog) -> Vec<(&'c Table, Option<String>)> {
    let words = words(sql);
    let mut out = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if !(word.eq_ignore_ascii_case("from") || word.eq_ignore_ascii_case("join")) {
            continue;
        }
        let Some(table) = words
            .get(i + 1)
            .and_then(|name| catalog.streams.iter().find(|t| t.name == *name))
        else {
            continue;
        };
        let mut alias = words.get(i + 2).cloned();
        if alias
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("as"))
        {
            alias = words.get(i + 3).cloned();
        }
        let alias = alias.filter(|a| !RESERVED.contains(&a.to_ascii_uppercase().as_str()));
        out.push((table, alias));
    }
    out
}

/// The names and words of `sql`, unquoted, outside strings and comments.
fn words(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // Only an ASCII byte starts what is matched here, so `i` is a char boundary there.
        match bytes[i] {
            b'\'' => i += sql[i + 1..].find('\'').map_or(bytes.len() - i, |n| n + 2),
            b'"' => {
                let rest = &sql[i + 1..];
                let (name, len) = match rest.find('"') {
                    Some(n) => (&rest[..n], n + 2),
                    None => (rest, rest.len() + 1),
                };
                out.push(name.replace("\"\"", "\""));
                i += len;
            }
            b'-' if sql[i..].starts_with("--") => {
                i += sql[i..].find('\n').map_or(bytes.len() - i, |n| n + 1);
            }
            b if is_word_byte(b) => {
                let len = bytes[i..].iter().take_while(|&&b| is_word_byte(b)).count();
                out.push(sql[i..i + len].to_owned());
                i += len;
            }
            _ => i += 1,
        }
    }
    out
}

/// What to offer at byte `caret` of `sql`. Unless `asked` (Ctrl+Space), only where a word is
/// being typed or a name must come (after `FROM`, `JOIN`, `stream.`).
pub(crate) fn complete(
    sql: &str,
    caret: usize,
    catalog: &Catalog,
    asked: bool,
) -> Option<Completion> {
    let mut caret = caret.min(sql.len());
    while !sql.is_char_boundary(caret) {
        caret -= 1;
    }
    let before = &sql[..caret];
    let (from, prefix, quoted) = match place(before) {
        Place::Quiet => return None,
        Place::Quoted(at) => (at, before[at + 1..].to_owned(), true),
        Place::Code => {
            let len = before
                .bytes()
                .rev()
                .take_while(|&b| is_word_byte(b))
                .count();
            (caret - len, before[caret - len..].to_owned(), false)
        }
    };
    // The rest of the word after the caret is replaced too.
    let to = caret
        + sql[caret..]
            .bytes()
            .take_while(|&b| is_word_byte(b) || (quoted && b == b'"'))
            .count();
    let head = before[..from].trim_end();
    let named = named_streams(sql, catalog);
    let mut candidates: Vec<Suggestion> = Vec::new();
    let mut must = false;
    if let Some(qualifier) = head.strip_suffix('.') {
        let qualifier = words(qualifier).pop().unwrap_or_default();
        let table = named
            .iter()
            .find(|(t, alias)| alias.as_deref() == Some(qualifier.as_str()) || t.name == qualifier)
            .map(|(t, _)| *t)
            .or_else(|| catalog.streams.iter().find(|t| t.name == qualifier));
        if let Some(table) = table {
            candidates.extend(columns(table, false));
        }
        must = true;
    } else if last_word(head)
        .is_some_and(|w| w.eq_ignore_ascii_case("from") || w.eq_ignore_ascii_case("join"))
    {
        candidates.extend(catalog.streams.iter().map(|t| Suggestion {
            label: t.name.clone(),
            insert: name_in_sql(&t.name),
            kind: Kind::Stream,
            detail: format!("{} columns", t.columns.len()),
        }));
        must = true;
    } else {
        let scope: Vec<&Table> = if named.is_empty() {
            catalog.streams.iter().collect()
        } else {
            named.iter().map(|(t, _)| *t).collect()
        };
        let several = scope.len() > 1;
        for table in scope {
            for column in columns(table, several) {
                if !candidates.iter().any(|c| c.label == column.label) {
                    candidates.push(column);
                }
            }
        }
        if !quoted {
            candidates.extend(KEYWORDS.iter().map(|k| Suggestion {
                label: (*k).to_owned(),
                insert: (*k).to_owned(),
                kind: Kind::Keyword,
                detail: String::new(),
            }));
            candidates.extend(FUNCTIONS.iter().map(|(f, detail)| Suggestion {
                label: (*f).to_owned(),
                insert: format!("{f}("),
                kind: Kind::Function,
                detail: (*detail).to_owned(),
            }));
        }
        candidates.extend(catalog.streams.iter().map(|t| Suggestion {
            label: t.name.clone(),
            insert: name_in_sql(&t.name),
            kind: Kind::Stream,
            detail: "stream".into(),
        }));
    }
    if prefix.is_empty() && !asked && !must {
        return None;
    }
    let lower = prefix.to_lowercase();
    let mut suggestions: Vec<Suggestion> = candidates
        .into_iter()
        .filter(|s| s.label.to_lowercase().starts_with(&lower))
        // A word typed out in full needs no offer, unless it must be written otherwise.
        .filter(|s| quoted || s.insert != prefix && !s.insert.eq_ignore_ascii_case(&prefix))
        .collect();
    suggestions.sort_by_key(|s| s.kind);
    suggestions.truncate(MAX);
    (!suggestions.is_empty()).then_some(Completion {
        from,
        to,
        suggestions,
    })
}

fn columns(table: &Table, with_stream: bool) -> impl Iterator<Item = Suggestion> + '_ {
    table
        .columns
        .iter()
        .map(move |(name, data_type)| Suggestion {
            label: name.clone(),
            insert: name_in_sql(name),
            kind: Kind::Column,
            detail: if with_stream {
                format!("{data_type} · {}", table.name)
            } else {
                data_type.clone()
            },
        })
}

/// The last word of `text`, when it ends with one.
fn last_word(text: &str) -> Option<&str> {
    let len = text.bytes().rev().take_while(|&b| is_word_byte(b)).count();
    (len > 0).then(|| &text[text.len() - len..])
}

/// `sql` with `suggestion` in place of the completed word, and where the caret goes after it.
pub(crate) fn accept(
    sql: &str,
    completion: &Completion,
    suggestion: &Suggestion,
) -> (String, usize) {
    let mut out = String::with_capacity(sql.len() + suggestion.insert.len());
    out.push_str(&sql[..completion.from]);
    out.push_str(&suggestion.insert);
    let caret = out.len();
    out.push_str(&sql[completion.to..]);
    (out, caret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let table = |name: &str, columns: &[&str]| Table {
            name: name.into(),
            columns: columns
                .iter()
                .map(|c| ((*c).to_owned(), "Utf8".to_owned()))
                .collect(),
        };
        Catalog {
            streams: vec![
                table("demo_http", &["_time", "service", "status", "Route Name"]),
                table("order", &["_time", "user", "total"]),
            ],
        }
    }

    fn labels(sql: &str, asked: bool) -> Vec<String> {
        let caret = sql.find('|').expect("a caret");
        let sql = sql.replace('|', "");
        complete(&sql, caret, &catalog(), asked)
            .map(|c| c.suggestions.into_iter().map(|s| s.label).collect())
            .unwrap_or_default()
    }

    /// Completes at `|` with the first suggestion.
    fn first(sql: &str) -> String {
        let caret = sql.find('|').expect("a caret");
        let sql = sql.replace('|', "");
        let completion = complete(&sql, caret, &catalog(), true).expect("a completion");
        let (mut out, caret) = accept(&sql, &completion, &completion.suggestions[0]);
        out.insert(caret, '|');
        out
    }

    #[test]
    fn streams_after_from_quoted_when_they_are_keywords() {
        assert_eq!(labels("SELECT * FROM |", false), ["demo_http", "order"]);
        assert_eq!(first("SELECT * FROM ord|"), "SELECT * FROM \"order\"|");
        assert_eq!(first("SELECT * FROM \"or|"), "SELECT * FROM \"order\"|");
        assert_eq!(
            first("select * from de| where"),
            "select * from demo_http| where"
        );
        assert_eq!(
            first("SELECT * FROM x JOIN or|"),
            "SELECT * FROM x JOIN \"order\"|"
        );
    }

    #[test]
    fn columns_of_the_named_streams_first_then_keywords_and_functions() {
        assert_eq!(
            labels("SELECT s| FROM demo_http", false),
            [
                "service",
                "status",
                "SELECT",
                "sum",
                "stddev",
                "string_agg",
                "substr",
                "split_part",
                "starts_with",
                "strpos",
                "sqrt"
            ]
        );
        // `user` and `Route Name` are written so that they parse.
        assert_eq!(
            first("SELECT us| FROM \"order\""),
            "SELECT \"user\"| FROM \"order\""
        );
        assert_eq!(
            first("SELECT Ro| FROM demo_http"),
            "SELECT \"Route Name\"| FROM demo_http"
        );
        // The rest of the word at the caret goes too.
        assert_eq!(
            first("SELECT ser|vic FROM demo_http"),
            "SELECT service| FROM demo_http"
        );
        assert_eq!(
            first("SELECT co| FROM demo_http"),
            "SELECT count(| FROM demo_http"
        );
    }

    #[test]
    fn a_streams_columns_after_its_name_or_alias_and_a_dot() {
        assert_eq!(
            labels("SELECT o.| FROM \"order\" AS o", false),
            ["_time", "user", "total"]
        );
        assert_eq!(labels("SELECT h.st| FROM demo_http h", false), ["status"]);
        assert_eq!(
            labels("SELECT demo_http.se| FROM demo_http", false),
            ["service"]
        );
    }

    #[test]
    fn nothing_in_strings_comments_or_between_words_unless_asked() {
        assert!(labels("SELECT 'se|", true).is_empty());
        assert!(labels("SELECT 1 -- se|", true).is_empty());
        assert!(labels("SELECT |", false).is_empty());
        assert!(!labels("SELECT |", true).is_empty());
        // A word typed out needs no offer.
        assert!(labels("SELECT service| FROM demo_http", false).is_empty());
    }

    #[test]
    fn names_are_quoted_only_when_they_must_be() {
        assert_eq!(name_in_sql("status"), "status");
        assert_eq!(name_in_sql("_time"), "_time");
        assert_eq!(name_in_sql("order"), "\"order\"");
        assert_eq!(name_in_sql("View"), "\"View\"");
        assert_eq!(name_in_sql("a\"b"), "\"a\"\"b\"");
        assert_eq!(name_in_sql("http.status"), "\"http.status\"");
    }

    #[test]
    fn any_caret_in_any_text_is_safe() {
        let text = "SELECT \"é\" , 'x' -- ü\n FROM \"order\" o WHERE o.";
        for caret in 0..=text.len() + 2 {
            for asked in [false, true] {
                if let Some(c) = complete(text, caret, &catalog(), asked) {
                    assert!(c.from <= c.to && c.to <= text.len());
                    let _ = accept(text, &c, &c.suggestions[0]);
                }
            }
        }
    }
}
