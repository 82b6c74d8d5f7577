//! Annotation templates, in the subset of Go's template syntax that Prometheus and Grafana rules
//! use: text with actions `{{ … }}` (`{{-` and `-}}` trim the space beside them). An action is a
//! value (`$value`, `$labels.service`, `$labels`, a "quoted string" or a number), optionally
//! passed through functions: `humanize $value`, or `$value | humanizePercentage`.
//!
//! Functions: `humanize` (SI prefixes, 4 significant digits: `1.234k`, `12.5m`),
//! `humanize1024` (binary prefixes: `1.5Ki`), `humanizePercentage` (`0.0234` → `2.34%`),
//! `humanizeDuration` (seconds → `1h 2m 3s`), `toUpper`, `toLower`, `title`, `printf` with one
//! `%.Nf`, `%d`, `%s` or `%v` verb.

use std::collections::BTreeMap;
use std::fmt;

/// A template that parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Action(Vec<Call>),
}

/// One stage of a pipeline: a function and its arguments, or a lone value.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Value(Arg),
    Function(Function, Vec<Arg>),
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Value,
    Labels,
    Label(String),
    Text(String),
    Number(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Humanize,
    Humanize1024,
    HumanizePercentage,
    HumanizeDuration,
    ToUpper,
    ToLower,
    Title,
    Printf,
}

const FUNCTIONS: &[(&str, Function)] = &[
    ("humanize", Function::Humanize),
    ("humanize1024", Function::Humanize1024),
    ("humanizePercentage", Function::HumanizePercentage),
    ("humanizeDuration", Function::HumanizeDuration),
    ("toUpper", Function::ToUpper),
    ("toLower", Function::ToLower),
    ("title", Function::Title),
    ("printf", Function::Printf),
];

/// Why a template does not parse, and where (line and column, from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "template line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for TemplateError {}

/// What a template is rendered with.
#[derive(Debug, Clone, Copy)]
pub struct Data<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub value: Option<f64>,
}

fn error_at(text: &str, at: usize, message: impl Into<String>) -> TemplateError {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    TemplateError {
        line,
        column,
        message: message.into(),
    }
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = 0;
        let mut trim_next = false;
        while let Some(found) = text[rest..].find("{{") {
            let open = rest + found;
            let mut literal = &text[rest..open];
            if trim_next {
                literal = literal.trim_start();
            }
            let mut inner_start = open + 2;
            if text[inner_start..].starts_with('-') {
                literal = literal.trim_end();
                inner_start += 1;
            }
            if !literal.is_empty() {
                parts.push(Part::Text(literal.to_owned()));
            }
            let close = text[inner_start..]
                .find("}}")
                .map(|c| inner_start + c)
                .ok_or_else(|| error_at(text, open, "`{{` is not closed by `}}`"))?;
            let mut inner_end = close;
            trim_next = false;
            if text[..close].ends_with('-') && close > inner_start {
                inner_end -= 1;
                trim_next = true;
            }
            let calls = parse_action(text, inner_start, inner_end)?;
            parts.push(Part::Action(calls));
            rest = close + 2;
        }
        let mut literal = &text[rest..];
        if trim_next {
            literal = literal.trim_start();
        }
        if let Some(close) = literal.find("}}") {
            return Err(error_at(
                text,
                text.len() - literal.len() + close,
                "`}}` without `{{`",
            ));
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal.to_owned()));
        }
        Ok(Template { parts })
    }

    pub fn render(&self, data: Data<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Action(calls) => match run(calls, data) {
                    Ok(v) => out.push_str(&v.to_string()),
                    Err(message) => out.push_str(&format!("<error expanding template: {message}>")),
                },
            }
        }
        out
    }
}

/// Parses then renders; a template that does not parse renders as its error.
pub fn render(text: &str, data: Data<'_>) -> String {
    match Template::parse(text) {
        Ok(template) => template.render(data),
        Err(err) => format!("<{err}>"),
    }
}

/// Splits an action into words (quoted strings kept whole), with their offsets.
fn words(text: &str, start: usize, end: usize) -> Result<Vec<(usize, String)>, TemplateError> {
    let mut words = Vec::new();
    let bytes = text.as_bytes();
    let mut i = start;
    while i < end {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if b == b'"' {
            let mut j = i + 1;
            let mut value = String::new();
            loop {
                if j >= end {
                    return Err(error_at(text, i, "a string is not closed by `\"`"));
                }
                match bytes[j] {
                    b'"' => break,
                    b'\\' if j + 1 < end => {
                        // The escaped character may be any character, of any length.
                        let c = text[j + 1..].chars().next().expect("inside the text");
                        value.push(match c {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        j += 1 + c.len_utf8();
                    }
                    _ => {
                        let c = text[j..].chars().next().expect("inside the text");
                        value.push(c);
                        j += c.len_utf8();
                    }
                }
            }
            words.push((i, format!("\"{value}")));
            i = j + 1;
        } else if b == b'|' {
            words.push((i, "|".to_owned()));
            i += 1;
        } else {
            let mut j = i;
            while j < end && !bytes[j].is_ascii_whitespace() && bytes[j] != b'|' {
                j += 1;
            }
            words.push((i, text[i..j].to_owned()));
            i = j;
        }
    }
    Ok(words)
}

fn parse_action(text: &str, start: usize, end: usize) -> Result<Vec<Call>, TemplateError> {
    let words = words(text, start, end)?;
    if words.is_empty() {
        return Err(error_at(text, start, "an empty action: write {{ $value }}"));
    }
    let mut calls = Vec::new();
    for stage in words.split(|(_, w)| w == "|") {
        let Some(((at, head), args)) = stage.split_first() else {
            return Err(error_at(text, start, "an empty stage in a pipeline"));
        };
        let args = args
            .iter()
            .map(|(at, w)| parse_arg(text, *at, w))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some((_, function)) = FUNCTIONS.iter().find(|(name, _)| name == head) {
            calls.push(Call::Function(*function, args));
        } else if args.is_empty() {
            let arg = parse_arg(text, *at, head)?;
            if !calls.is_empty() {
                return Err(error_at(text, *at, format!("`{head}` is not a function")));
            }
            calls.push(Call::Value(arg));
        } else {
            return Err(error_at(
                text,
                *at,
                format!(
                    "`{head}` is not a function: use one of {}",
                    FUNCTIONS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if let Some(Call::Function(_, args)) = calls.first()
        && args.is_empty()
    {
        return Err(error_at(text, start, "a function needs an argument"));
    }
    Ok(calls)
}

fn parse_arg(text: &str, at: usize, word: &str) -> Result<Arg, TemplateError> {
    if let Some(quoted) = word.strip_prefix('"') {
        return Ok(Arg::Text(quoted.to_owned()));
    }
    match word {
        "$value" | ".Value" => return Ok(Arg::Value),
        "$labels" | ".Labels" => return Ok(Arg::Labels),
        _ => {}
    }
    if let Some(name) = word
        .strip_prefix("$labels.")
        .or_else(|| word.strip_prefix(".Labels."))
    {
        if super::is_label_name(name) {
            return Ok(Arg::Label(name.to_owned()));
        }
        return Err(error_at(text, at, format!("`{name}` is not a label name")));
    }
    if let Ok(number) = word.parse::<f64>() {
        return Ok(Arg::Number(number));
    }
    if FUNCTIONS.iter().any(|(name, _)| *name == word) {
        return Err(error_at(
            text,
            at,
            format!("`{word}` needs an argument before it"),
        ));
    }
    Err(error_at(
        text,
        at,
        format!("`{word}` is unknown: use $value, $labels.NAME, $labels, a \"string\" or a number"),
    ))
}

/// A value inside a pipeline.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Number(f64),
    Text(String),
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Number(n) => write!(f, "{n}"),
            Val::Text(t) => f.write_str(t),
        }
    }
}

impl Val {
    fn number(&self) -> Result<f64, String> {
        match self {
            Val::Number(n) => Ok(*n),
            Val::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| format!("`{t}` is not a number")),
        }
    }
}

fn value_of(arg: &Arg, data: Data<'_>) -> Val {
    match arg {
        Arg::Value => data.value.map_or(Val::Text(String::new()), Val::Number),
        Arg::Labels => Val::Text(
            data.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Arg::Label(name) => Val::Text(data.labels.get(name).cloned().unwrap_or_default()),
        Arg::Text(text) => Val::Text(text.clone()),
        Arg::Number(n) => Val::Number(*n),
    }
}

fn run(calls: &[Call], data: Data<'_>) -> Result<Val, String> {
    let mut piped: Option<Val> = None;
    for call in calls {
        let value = match call {
            Call::Value(arg) => value_of(arg, data),
            Call::Function(function, args) => {
                let mut values: Vec<Val> = args.iter().map(|a| value_of(a, data)).collect();
                values.extend(piped.take());
                apply(*function, &values)?
            }
        };
        piped = Some(value);
    }
    Ok(piped.unwrap_or(Val::Text(String::new())))
}

fn one(function: &str, values: &[Val]) -> Result<Val, String> {
    match values {
        [v] => Ok(v.clone()),
        _ => Err(format!(
            "{function} takes one argument, {} given",
            values.len()
        )),
    }
}

fn apply(function: Function, values: &[Val]) -> Result<Val, String> {
    Ok(match function {
        Function::Humanize => Val::Text(humanize(one("humanize", values)?.number()?)),
        Function::Humanize1024 => Val::Text(humanize_1024(one("humanize1024", values)?.number()?)),
        Function::HumanizePercentage => Val::Text(format!(
            "{}%",
            significant(one("humanizePercentage", values)?.number()? * 100.0, 4)
        )),
        Function::HumanizeDuration => Val::Text(humanize_duration(
            one("humanizeDuration", values)?.number()?,
        )),
        Function::ToUpper => Val::Text(one("toUpper", values)?.to_string().to_uppercase()),
        Function::ToLower => Val::Text(one("toLower", values)?.to_string().to_lowercase()),
        Function::Title => Val::Text(title(&one("title", values)?.to_string())),
        Function::Printf => printf(values)?,
    })
}

fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = true;
    for c in text.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

fn printf(values: &[Val]) -> Result<Val, String> {
    let Some((Val::Text(format), args)) = values.split_first() else {
        return Err("printf needs a \"format\" first".to_owned());
    };
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '.' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let verb = chars.next().ok_or("printf: a format ends in `%`")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args.next().ok_or("printf: fewer arguments than verbs")?;
        match verb {
            'f' => {
                let precision = spec
                    .strip_prefix('.')
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(6);
                out.push_str(&format!("{:.*}", precision, arg.number()?));
            }
            'd' => out.push_str(&format!("{}", arg.number()?.trunc() as i64)),
            's' | 'v' => out.push_str(&arg.to_string()),
            other => return Err(format!("printf: the verb %{other} is not supported")),
        }
    }
    Ok(Val::Text(out))
}

/// `v` to `digits` significant digits, trailing zeros dropped (`%.4g` without the exponent).
pub fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Prometheus's `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    const UP: [&str; 8] = ["k", "M", "G", "T", "P", "E", "Z", "Y"];
    const DOWN: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];
    let mut x = v;
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in UP {
            if x.abs() < 1000.0 {
                break;
            }
            x /= 1000.0;
            prefix = p;
        }
        format!("{}{prefix}", significant(x, 4))
    } else {
        let mut prefix = "";
        for p in DOWN {
            if x.abs() >= 1.0 {
                break;
            }
            x *= 1000.0;
            prefix = p;
        }
        format!("{}{prefix}", significant(x, 4))
    }
}

fn humanize_1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return significant(v, 4);
    }
    let mut x = v;
    let mut prefix = "";
    for p in ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if x.abs() < 1024.0 {
            break;
        }
        x /= 1024.0;
        prefix = p;
    }
    format!("{}{prefix}", significant(x, 4))
}

/// Prometheus's `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `12.5ms` under a second.
pub fn humanize_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return format!("{seconds}");
    }
    if seconds.abs() < 1.0 {
        if seconds == 0.0 {
            return "0s".to_owned();
        }
        let ms = seconds * 1000.0;
        if ms.abs() >= 1.0 {
            return format!("{}ms", significant(ms, 4));
        }
        return format!("{}us", significant(ms * 1000.0, 4));
    }
    let sign = if seconds < 0.0 { "-" } else { "" };
    let total = seconds.abs();
    let whole = total.trunc() as u64;
    let (days, hours, minutes) = (whole / 86_400, whole / 3600 % 24, whole / 60 % 60);
    let secs = total - (whole - whole % 60) as f64;
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes}m"));
    }
    if secs > 0.0 {
        parts.push(format!("{}s", significant(secs, 4)));
    }
    format!("{sign}{}", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn show(text: &str, value: Option<f64>) -> String {
        let labels = labels(&[("service", "checkout"), ("route", "/pay")]);
        Template::parse(text).unwrap().render(Data {
            labels: &labels,
            value,
        })
    }

    #[test]
    fn renders_labels_values_and_functions() {
        assert_eq!(
            show("{{ $labels.service }} at {{ $value }}", Some(0.25)),
            "checkout at 0.25"
        );
        assert_eq!(show("{{ humanize $value }}", Some(1234.5)), "1.234k");
        assert_eq!(show("{{ humanize $value }}", Some(0.0125)), "12.5m");
        assert_eq!(show("{{ humanize $value }}", Some(12.0)), "12");
        assert_eq!(
            show("{{ $value | humanizePercentage }}", Some(0.0234)),
            "2.34%"
        );
        assert_eq!(
            show("{{ humanizeDuration $value }}", Some(3723.0)),
            "1h 2m 3s"
        );
        assert_eq!(show("{{ humanizeDuration $value }}", Some(0.25)), "250ms");
        assert_eq!(show("{{ humanize1024 $value }}", Some(1536.0)), "1.5Ki");
        assert_eq!(show("{{ toUpper $labels.service }}", None), "CHECKOUT");
        assert_eq!(show("{{ $labels.service | title }}", None), "Checkout");
        assert_eq!(show("{{ printf \"%.1f%%\" $value }}", Some(2.345)), "2.3%");
        assert_eq!(show("{{ $labels.missing }}!", None), "!");
        assert_eq!(show("{{ $value }}", None), "");
        assert_eq!(show("a {{- $labels.service -}} b", None), "acheckoutb");
        assert_eq!(show("{{ .Labels.route }}", None), "/pay");
        assert_eq!(show("{{ $labels }}", None), "route=/pay, service=checkout");
        assert_eq!(
            show("{{ humanize $labels.service }}", None),
            "<error expanding template: `checkout` is not a number>"
        );
    }

    #[test]
    fn errors_say_where() {
        let err = Template::parse("ok\n  {{ $labels.service ").unwrap_err();
        assert_eq!((err.line, err.column), (2, 3), "{err}");
        let err = Template::parse("{{ humanise $value }}").unwrap_err();
        assert!(
            err.message.contains("`humanise` is not a function"),
            "{err}"
        );
        assert_eq!(err.column, 4);
        let err = Template::parse("{{ $valu }}").unwrap_err();
        assert!(err.message.contains("`$valu` is unknown"), "{err}");
        assert!(Template::parse("{{ }}").is_err());
        assert!(Template::parse("{{ humanize }}").is_err());
        assert!(Template::parse("a }} b").is_err());
        assert!(Template::parse("{{ \"open }}").is_err());
        assert!(Template::parse("{{ $labels.9x }}").is_err());
        // An escaped character of several bytes is a character, not a panic.
        let labels = BTreeMap::new();
        let data = Data {
            labels: &labels,
            value: None,
        };
        assert_eq!(
            Template::parse(r#"{{ "a\é\"b" }}"#).unwrap().render(data),
            "aé\"b"
        );
    }

    proptest! {
        /// Any text parses or is refused: it never panics.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,40}") {
            let _ = Template::parse(&text);
            let _ = Template::parse(&format!("{{{{ \"{text} }}}}"));
        }

        /// Text without braces renders as itself; a label action renders as the label's value.
        #[test]
        fn text_and_labels_substitute(
            before in "[^{}]{0,20}",
            after in "[^{}]{0,20}",
            value in "[^\u{0}]{0,20}",
        ) {
            let labels = labels(&[("x", &value)]);
            let text = format!("{before}{{{{ $labels.x }}}}{after}");
            let out = Template::parse(&text).unwrap().render(Data { labels: &labels, value: None });
            prop_assert_eq!(out, format!("{before}{value}{after}"));
        }

        /// `humanize` keeps four significant digits: reading it back is within 0.05 %.
        #[test]
        fn humanize_reads_back(v in 1e-20f64..1e20) {
            let text = humanize(v);
            let (number, prefix): (String, String) =
                text.chars().partition(|c| c.is_ascii_digit() || *c == '.' || *c == '-');
            let scale = match prefix.as_str() {
                "" => 1.0, "k" => 1e3, "M" => 1e6, "G" => 1e9, "T" => 1e12, "P" => 1e15,
                "E" => 1e18, "Z" => 1e21, "Y" => 1e24, "m" => 1e-3, "u" => 1e-6,
                "n" => 1e-9, "p" => 1e-12, "f" => 1e-15, "a" => 1e-18, "z" => 1e-21,
                "y" => 1e-24, other => panic!("prefix {other}"),
            };
            let back: f64 = number.parse::<f64>().unwrap() * scale;
            prop_assert!(((back - v) / v).abs() < 5e-4, "{v} → {text} → {back}");
        }
    }
}
