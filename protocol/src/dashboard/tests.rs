//! The dashboard model's rules, time ranges, and substitution: unit tests, and properties checked
//! against DataFusion's own SQL lexer (sqlparser, generic dialect).

use std::collections::BTreeMap;

use proptest::prelude::*;
use sqlparser::dialect::GenericDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::substitute::{Scope, Value, substitute};
use super::time::{self, Instant, TimeRange};
use super::*;

const MINUTE: i64 = 60_000_000;

fn panel(id: u32, grid: Grid) -> Panel {
    Panel {
        id,
        title: format!("p{id}"),
        kind: PanelKind::Timeseries,
        sql: "SELECT 1".into(),
        grid,
        description: String::new(),
        options: PanelOptions::default(),
    }
}

fn dashboard() -> Dashboard {
    Dashboard {
        uid: "web".into(),
        title: "Web".into(),
        description: String::new(),
        tags: vec![],
        time: TimeSpec::default(),
        variables: vec![],
        panels: vec![
            panel(
                1,
                Grid {
                    x: 0,
                    y: 0,
                    w: 12,
                    h: 8,
                },
            ),
            panel(
                2,
                Grid {
                    x: 12,
                    y: 0,
                    w: 12,
                    h: 8,
                },
            ),
        ],
        annotations: vec![],
        version: 0,
    }
}

#[test]
fn a_good_dashboard_passes_and_round_trips_through_json() {
    let d = dashboard();
    d.check().unwrap();
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(serde_json::from_str::<Dashboard>(&json).unwrap(), d);
}

#[test]
fn problems_point_at_the_part() {
    let mut d = dashboard();
    d.panels[1].id = 1;
    assert_eq!(d.check().unwrap_err().pointer, "/panels/1/id");

    let mut d = dashboard();
    d.panels[1].grid.x = 13;
    let problem = d.check().unwrap_err();
    assert_eq!(problem.pointer, "/panels/1/grid");
    assert!(problem.message.contains("25"), "{problem}");

    let mut d = dashboard();
    d.time.from = "yesterday".into();
    assert_eq!(d.check().unwrap_err().pointer, "/time/from");

    let mut d = dashboard();
    d.uid = "Web Services".into();
    assert_eq!(d.check().unwrap_err().pointer, "/uid");

    let mut d = dashboard();
    let var = Variable {
        name: "service".into(),
        label: None,
        kind: VariableKind::Custom,
        query: None,
        options: vec!["api".into()],
        multi: false,
        include_all: false,
        default: vec![],
    };
    d.variables = vec![var.clone(), var.clone()];
    assert_eq!(d.check().unwrap_err().pointer, "/variables/1/name");
    d.variables = vec![Variable {
        kind: VariableKind::Interval,
        options: vec!["1m".into(), "soon".into()],
        ..var.clone()
    }];
    assert_eq!(d.check().unwrap_err().pointer, "/variables/0/options/1");
    d.variables = vec![Variable {
        name: "__x".into(),
        ..var
    }];
    assert_eq!(d.check().unwrap_err().pointer, "/variables/0/name");
}

#[test]
fn unknown_fields_are_refused() {
    let err =
        serde_json::from_str::<Dashboard>(r#"{"uid":"a","title":"A","colour":"red"}"#).unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}

#[test]
fn time_expressions() {
    assert_eq!("now".parse(), Ok(Instant::Now { offset: 0 }));
    assert_eq!(
        "now-15m".parse(),
        Ok(Instant::Now {
            offset: -15 * MINUTE
        })
    );
    assert_eq!(
        "now+1h".parse(),
        Ok(Instant::Now {
            offset: 60 * MINUTE
        })
    );
    assert_eq!(
        "2026-11-30T05:00:00Z".parse(),
        Ok(Instant::At(1_796_014_800_000_000))
    );
    assert_eq!(
        "1796014800000".parse(),
        Ok(Instant::At(1_796_014_800_000_000))
    );
    for bad in [
        "",
        "now-",
        "now-15",
        "now-15q",
        "now*2",
        "yesterday",
        "2026-13-01T00:00:00Z",
    ] {
        assert!(bad.parse::<Instant>().is_err(), "{bad}");
    }
    assert_eq!(
        Instant::Now {
            offset: -90 * 1_000_000
        }
        .to_string(),
        "now-90s"
    );
    assert_eq!(
        Instant::At(1_796_014_800_000_000).to_string(),
        "2026-11-30T05:00:00Z"
    );

    let live = TimeRange::parse("now-15m", "now").unwrap();
    assert!(live.is_live());
    assert_eq!(
        live.filter_sql("_time"),
        "_time >= now() - INTERVAL '15 minutes'"
    );
    let past = TimeRange::parse("now-2h", "now-1h").unwrap();
    assert!(!past.is_live());
    let fixed = TimeRange::parse("1796014800000", "2026-11-30T06:00:00Z").unwrap();
    assert!(!fixed.is_live());
    assert_eq!(
        fixed.filter_sql("_time"),
        "_time >= to_timestamp_micros(1796014800000000) AND _time <= to_timestamp_micros(1796018400000000)"
    );
}

#[test]
fn the_interval_gives_a_point_per_few_pixels_at_a_readable_step() {
    let now = 1_796_014_800_000_000;
    // 15 minutes over 800 px: 200 points, 4.5 s raw → 5 s.
    assert_eq!(TimeRange::last(15 * MINUTE).interval(now, 800), 5_000_000);
    // 7 days over 1000 px: 250 points, 40 min raw → 1 h.
    assert_eq!(
        TimeRange::last(7 * 1440 * MINUTE).interval(now, 1000),
        60 * MINUTE
    );
    // Never below a second.
    assert_eq!(TimeRange::last(MINUTE).interval(now, 4000), 1_000_000);
    for micros in [1_000, 5_000_000, 90_000_000, 3_600_000_000, 86_400_000_000] {
        assert_eq!(
            time::parse_duration(&time::format_duration(micros)),
            Ok(micros)
        );
    }
    assert_eq!(time::interval_sql(5_000_000), "INTERVAL '5 seconds'");
    assert_eq!(time::interval_sql(60 * MINUTE), "INTERVAL '1 hour'");
}

fn scope(variables: &BTreeMap<String, Value>) -> Scope<'_> {
    Scope {
        variables,
        range: TimeRange::last(15 * MINUTE),
        interval: 10_000_000,
    }
}

fn vars(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn variables_become_literals() {
    let v = vars(&[
        ("service", Value::Text("api".into())),
        ("regions", Value::List(vec!["eu".into(), "us".into()])),
        ("none", Value::List(vec![])),
        ("step", Value::Interval(60_000_000)),
        ("col", Value::Text("route".into())),
    ]);
    let s = |sql: &str| substitute(sql, &scope(&v)).unwrap();
    assert_eq!(s("WHERE service = $service"), "WHERE service = 'api'");
    assert_eq!(s("WHERE service = ${service}"), "WHERE service = 'api'");
    assert_eq!(
        s("WHERE region IN ($regions)"),
        "WHERE region IN ('eu', 'us')"
    );
    assert_eq!(s("WHERE region IN ($none)"), "WHERE region IN (NULL)");
    assert_eq!(
        s("date_bin($step, _time)"),
        "date_bin(INTERVAL '1 minute', _time)"
    );
    assert_eq!(s("GROUP BY ${col:ident}"), "GROUP BY \"route\"");
    // Grafana habits: quotes around a reference, and LIKE patterns, stay one literal.
    assert_eq!(s("service = '$service'"), "service = 'api'");
    assert_eq!(s("route LIKE '%$service%'"), "route LIKE '%api%'");
    // Not references: comments, quoted identifiers, dollar-quoted strings, identifiers, `$1`.
    for sql in [
        "-- $service\nSELECT 1",
        "/* $service /* nested */ $service */ SELECT 1",
        "SELECT \"$service\"",
        "SELECT $$ $service $$",
        "SELECT $tag$ $service $tag$",
        "SELECT a$service",
        "SELECT $1",
        "SELECT 5 $",
    ] {
        assert_eq!(s(sql), sql);
    }
}

#[test]
fn macros() {
    let v = vars(&[]);
    let s = |sql: &str| substitute(sql, &scope(&v)).unwrap();
    assert_eq!(
        s("WHERE $__timeFilter(_time)"),
        "WHERE (_time >= now() - INTERVAL '15 minutes')"
    );
    assert_eq!(
        s("SELECT $__timeGroup(_time) AS t"),
        "SELECT date_bin(INTERVAL '10 seconds', _time) AS t"
    );
    assert_eq!(
        s("date_bin($__interval, _time)"),
        "date_bin(INTERVAL '10 seconds', _time)"
    );
    assert_eq!(s("$__interval_ms"), "10000");
    assert_eq!(
        s("$__from AND $__to"),
        "now() - INTERVAL '15 minutes' AND now()"
    );
    assert_eq!(s("INTERVAL '$__interval'"), "INTERVAL '10 seconds'");
}

#[test]
fn what_cannot_be_substituted_says_what_and_where() {
    let v = vars(&[("many", Value::List(vec!["a".into()]))]);
    let e = |sql: &str| substitute(sql, &scope(&v)).unwrap_err();
    let err = e("SELECT 1\nWHERE a = $nope");
    assert_eq!((err.line, err.column), (2, 11));
    assert!(err.message.contains("unknown variable $nope"), "{err}");
    assert!(e("WHERE a = '$many'").message.contains("IN ($many)"));
    assert!(e("WHERE a = E'$many'").message.contains("prefixed"));
    assert!(e("WHERE $__timeFilter").message.contains("takes a column"));
    assert!(e("WHERE $__bogus").message.contains("unknown macro"));
    assert!(e("WHERE ${many:raw}").message.contains("unknown format"));
    assert!(e("WHERE a = 'open").message.contains("unterminated"));
}

/// The tokens of `sql` as DataFusion's lexer reads them, whitespace and comments left out, with
/// string literal contents as given.
fn tokens(sql: &str) -> Result<Vec<Token>, String> {
    Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .map(|t| {
            t.into_iter()
                .filter(|t| !matches!(t, Token::Whitespace(_)))
                .collect()
        })
        .map_err(|e| e.to_string())
}

/// A token with any literal's text blanked: the *shape* of the SQL.
fn shape(token: &Token) -> String {
    match token {
        Token::SingleQuotedString(_) => "'…'".into(),
        Token::DoubleQuotedString(_) => "\"…\"".into(),
        Token::DollarQuotedString(_) => "$…$".into(),
        Token::EscapedStringLiteral(_) => "E'…'".into(),
        Token::UnicodeStringLiteral(_) => "U&'…'".into(),
        other => other.to_string(),
    }
}

proptest! {
    /// Any value in a code position is one string literal holding exactly that value: the SQL
    /// around it keeps its shape whatever the value holds (quotes, comment markers, `$`,
    /// backslashes, statements).
    #[test]
    fn a_value_is_one_literal_holding_the_value(
        value in prop_oneof![
            ".*",
            Just("x' OR 1=1 --".to_string()),
            Just("'; DROP TABLE t; --".to_string()),
            Just("\\'; SELECT 1 /*".to_string()),
            Just("*/ OR 1=1 /*".to_string()),
            Just("$$ OR $x$".to_string()),
        ],
        template in prop::sample::select(vec![
            "SELECT * FROM t WHERE service = $v",
            "SELECT * FROM t WHERE service = ${v} AND 1 = 1",
            "SELECT * FROM t WHERE service IN ($v) -- $v",
            "SELECT * FROM t /* $v */ WHERE a = $v",
            "SELECT * FROM t WHERE a = U&$v",
            "SELECT * FROM t WHERE a LIKE '%$v%'",
            "SELECT * FROM t WHERE a = '$v'",
        ]),
    ) {
        let benign = vars(&[("v", Value::Text("a".into()))]);
        let hostile = vars(&[("v", Value::Text(value.clone()))]);
        let expected = tokens(&substitute(template, &scope(&benign)).unwrap()).unwrap();
        let got = tokens(&substitute(template, &scope(&hostile)).unwrap()).unwrap();
        let shapes = |t: &[Token]| t.iter().map(shape).collect::<Vec<_>>();
        prop_assert_eq!(shapes(&got), shapes(&expected));
        // The literal that stood for `a` now holds the value itself (with `a`'s surroundings in a
        // LIKE pattern).
        for (g, e) in got.iter().zip(&expected) {
            if let (Token::SingleQuotedString(g), Token::SingleQuotedString(e)) = (g, e) {
                prop_assert_eq!(g, &e.replace('a', &value));
            }
        }
    }

    /// Several values are as many literals, each exactly one value.
    #[test]
    fn a_list_is_one_literal_per_value(values in prop::collection::vec(".*", 1..5)) {
        let v = vars(&[("v", Value::List(values.clone()))]);
        let sql = substitute("SELECT 1 FROM t WHERE a IN ($v)", &scope(&v)).unwrap();
        let literals: Vec<String> = tokens(&sql)
            .unwrap()
            .into_iter()
            .filter_map(|t| match t {
                Token::SingleQuotedString(s) => Some(s),
                _ => None,
            })
            .collect();
        prop_assert_eq!(literals, values);
    }

    /// Any identifier value stays one quoted identifier.
    #[test]
    fn an_ident_is_one_quoted_identifier(value in ".+") {
        let v = vars(&[("v", Value::Text(value.clone()))]);
        let sql = substitute("SELECT ${v:ident} FROM t", &scope(&v)).unwrap();
        let t = tokens(&sql).unwrap();
        prop_assert_eq!(t.len(), 4);
        match &t[1] {
            Token::Word(w) => {
                prop_assert_eq!(&w.value, &value);
                prop_assert_eq!(w.quote_style, Some('"'));
            }
            other => prop_assert!(false, "not a word: {other:?}"),
        }
    }

    /// SQL without references comes out unchanged, whatever it holds.
    #[test]
    fn sql_without_variables_is_unchanged(sql in "[^$]*") {
        let v = vars(&[]);
        match substitute(&sql, &scope(&v)) {
            Ok(out) => prop_assert_eq!(out, sql),
            // Only unterminated quotes or comments are refused.
            Err(err) => prop_assert!(err.message.contains("unterminated"), "{}", err),
        }
    }
}

#[test]
fn a_page_limits_any_query_as_one_statement() {
    use sqlparser::parser::Parser;
    for (sql, wrapped) in [
        ("SELECT a FROM t ORDER BY a DESC LIMIT 500", true),
        ("SELECT a FROM t ORDER BY a DESC OFFSET 5", true),
        ("SELECT a FROM t -- the newest first", false),
        ("SELECT a FROM t ORDER BY a;  \n", false),
        (
            "SELECT ';' AS a, 'limit' AS b FROM t /* LIMIT 5 */ ORDER BY 1;;",
            false,
        ),
        (
            "SELECT a FROM (SELECT a FROM t LIMIT 5) AS s ORDER BY a",
            false,
        ),
        ("SELECT \"limit\" FROM t", false),
    ] {
        let paged = page(sql, 13, 26);
        let statements = Parser::parse_sql(&GenericDialect {}, &paged)
            .unwrap_or_else(|e| panic!("{paged}: {e}"));
        assert_eq!(statements.len(), 1, "{paged}");
        assert!(paged.ends_with("LIMIT 13 OFFSET 26"), "{paged}");
        assert_eq!(paged.contains(") AS page LIMIT"), wrapped, "{paged}");
    }
}
