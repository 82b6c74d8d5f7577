//! Filters survive the URL, and no field name or value changes the shape of Explore's SQL.

use proptest::prelude::*;
use sqlparser::dialect::GenericDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::*;
use crate::dashboard::time::Instant;

/// The shape of `sql` as DataFusion's lexer reads it: tokens, literals and quoted names blanked.
fn shape(sql: &str) -> Vec<String> {
    Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .expect("the SQL lexes")
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .map(|t| match t {
            Token::SingleQuotedString(_) => "'…'".to_owned(),
            Token::DoubleQuotedString(_) => "\"…\"".to_owned(),
            Token::Word(w) if w.quote_style.is_some() => "\"…\"".to_owned(),
            Token::Number(..) => "0".to_owned(),
            t => t.to_string(),
        })
        .collect()
}

fn selection(filters: Vec<Filter>) -> Selection {
    Selection {
        stream: "order".into(),
        range: TimeRange {
            from: Instant::At(1_000_000),
            to: Instant::At(2_000_000),
        },
        filters,
        predicates: Vec::new(),
    }
}

fn types(field: &str) -> FieldType {
    match field {
        "status" => FieldType::Number,
        "ok" => FieldType::Boolean,
        _ => FieldType::Text,
    }
}

#[test]
fn filters_become_typed_conditions() {
    let sql = |field: &str, op, value: &str| Filter::new(field, op, value).sql(types(field));
    assert_eq!(sql("status", Op::Eq, "500").unwrap(), "\"status\" = 500");
    assert_eq!(sql("status", Op::Gt, " 1.5").unwrap(), "\"status\" > 1.5");
    assert_eq!(
        sql("route", Op::Ne, "/a'b").unwrap(),
        "\"route\" IS DISTINCT FROM '/a''b'"
    );
    assert_eq!(sql("ok", Op::Eq, "true").unwrap(), "\"ok\" = true");
    assert_eq!(sql("a\"b", Op::IsNull, "x").unwrap(), "\"a\"\"b\" IS NULL");
    assert_eq!(
        sql("msg", Op::NotContains, "boom").unwrap(),
        "(\"msg\" IS NULL OR strpos(CAST(\"msg\" AS VARCHAR), 'boom') = 0)"
    );
    let err = sql("status", Op::Eq, "1; DROP").unwrap_err();
    assert_eq!(err.0, "`status` holds numbers, and `1; DROP` is not one");
    assert!(sql("status", Op::Eq, "NaN").is_err());
    assert!(sql("ok", Op::Eq, "yes").is_err());
}

#[test]
fn a_selection_quotes_its_stream_and_pages_by_keyset() {
    let s = selection(vec![Filter::new("status", Op::Eq, "500")]);
    let sql = s
        .events_sql(&types, Some(Cursor { time: 5, offset: 7 }), 50)
        .unwrap();
    assert_eq!(
        sql,
        "SELECT * FROM \"order\" WHERE _time >= to_timestamp_micros(1000000) AND _time <= \
         to_timestamp_micros(2000000) AND (\"status\" = 500) AND (_time < to_timestamp_micros(5) \
         OR (_time = to_timestamp_micros(5) AND _offset < 7)) ORDER BY _time DESC, _offset DESC \
         LIMIT 50"
    );
    let top = s
        .top_values_sql(&types, &[(0, "route".into()), (3, "status".into())], 5)
        .unwrap();
    assert_eq!(top.matches("UNION ALL").count(), 1);
    assert!(top.contains("SELECT 3 AS i, CAST(\"status\" AS VARCHAR) AS value"));
    let sample = s
        .sample_top_values_sql(&types, &[(2, "order".into())], 5, 1000)
        .unwrap();
    assert!(sample.contains("named_struct('i', 2, 'v', CAST(\"order\" AS VARCHAR))"));
    assert!(sample.contains("(SELECT \"order\" FROM \"order\" WHERE _time >= "));
    assert!(sample.contains("ORDER BY _time DESC LIMIT 1000)"));
}

#[test]
fn filters_in_the_url_decode_what_was_encoded() {
    let f = Filter::new("a|b\\c", Op::NotContains, "x|y\\");
    assert_eq!(f.encode(), "a\\|b\\\\c|!~|x\\|y\\\\");
    assert_eq!(Filter::decode(&f.encode()), Some(f));
    assert_eq!(
        Filter::decode("status|=|"),
        Some(Filter::new("status", Op::Eq, ""))
    );
    assert_eq!(Filter::decode("status|==|1"), None);
    assert_eq!(Filter::decode("status|=|1|2"), None);
    assert_eq!(Filter::decode("|=|1"), None);
    assert_eq!(Filter::decode("a\\"), None);
}

#[test]
fn a_predicate_is_one_expression_in_parentheses() {
    for ok in [
        "status >= 500 OR route = '/a(b'",
        "\"user\" IN ('a', 'it''s')",
        "(a = 1) AND (b = 2)",
        "lower(route) LIKE '%-- not a comment%'",
    ] {
        assert_eq!(check_predicate(ok), Ok(()), "{ok}");
    }
    for (bad, why) in [
        ("", "nothing"),
        ("1 = 1) UNION SELECT 1 (", "`)` without"),
        ("a = 1 -- and", "comment"),
        ("a = 1 /* x */", "comment"),
        ("a = 1; SELECT 1", "`;`"),
        ("a = E'\\''", "prefixed"),
        ("a = $$x$$", "`$`"),
        ("a = 'x", "unterminated"),
        ("(a = 1", "`(` without"),
        ("a = 'x\\'", "`\\`"),
    ] {
        let err = check_predicate(bad).unwrap_err();
        assert!(err.0.contains(why), "{bad}: {err}");
    }
    let mut s = selection(Vec::new());
    s.predicates = vec!["status >= 500 OR a = 'b'".into()];
    let sql = s.events_sql(&types, None, 10).unwrap();
    assert!(
        sql.contains("AND (status >= 500 OR a = 'b') ORDER BY"),
        "{sql}"
    );
    s.predicates = vec!["1 = 1) OR (1 = 1".into()];
    assert!(s.events_sql(&types, None, 10).is_err());
}

fn any_op() -> impl Strategy<Value = Op> {
    proptest::sample::select(Op::ALL.to_vec())
}

proptest! {
    #[test]
    fn encoding_round_trips(field in ".{1,12}", op in any_op(), value in ".{0,12}") {
        let filter = Filter::new(field, op, value);
        prop_assert_eq!(Filter::decode(&filter.encode()), Some(filter));
    }

    /// Whatever a user types as a field or a value, the query keeps the shape of one made with
    /// plain ones: it is a literal or a quoted name, never SQL.
    #[test]
    fn no_name_or_value_changes_the_shape_of_the_sql(
        field in "\\PC{1,12}",
        op in any_op(),
        value in "\\PC{0,16}",
        number in proptest::bool::ANY,
    ) {
        let kind = if number { FieldType::Number } else { FieldType::Text };
        let typed = |field: &str| if field == "f" || field == "g" { FieldType::Text } else { kind };
        let plain = selection(vec![Filter::new("f", op, "v"), Filter::new("g", Op::Eq, "w")]);
        let user = selection(vec![Filter::new(field.clone(), op, value), Filter::new("g", Op::Eq, "w")]);
        let Ok(sql) = user.events_sql(&typed, None, 50) else {
            // Refused: a value that is not a number for a number field.
            prop_assert!(number);
            return Ok(());
        };
        let expected = plain.events_sql(&|_| FieldType::Text, None, 50).unwrap();
        let expected = if number && op.takes_value() && !matches!(op, Op::Contains | Op::NotContains) {
            expected.replacen("'v'", "0", 1)
        } else {
            expected
        };
        prop_assert_eq!(shape(&sql), shape(&expected), "{}", sql);
    }

    /// A predicate the check accepts stays inside its parentheses as DataFusion's lexer reads
    /// it: the opening one closes at the very end, and no comment or `;` is among its tokens.
    #[test]
    fn an_accepted_predicate_cannot_leave_its_parentheses(
        parts in proptest::collection::vec(proptest::sample::select(vec![
            "a", "1", " ", "(", ")", "'x'", "'", "''", "\"q\"", "\"", "`", "-", "--", "/", "*",
            ";", "$", "\\", "E", "=", " OR ", "x'", "')", "('",
        ]), 1..12),
    ) {
        let text = parts.concat();
        if check_predicate(&text).is_err() {
            return Ok(());
        }
        let wrapped = format!("({text})");
        let Ok(tokens) = Tokenizer::new(&GenericDialect {}, &wrapped).tokenize() else {
            // DataFusion would refuse it too.
            return Ok(());
        };
        let tokens: Vec<Token> = tokens
            .into_iter()
            .filter(|t| !matches!(t, Token::Whitespace(sqlparser::tokenizer::Whitespace::Space)))
            .collect();
        let mut depth = 0i32;
        for (i, token) in tokens.iter().enumerate() {
            match token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::SemiColon | Token::Whitespace(_) => prop_assert!(false, "{:?} in {}", token, wrapped),
                _ => {}
            }
            prop_assert!(depth > 0 || i == tokens.len() - 1, "left at {} in {}", i, wrapped);
        }
        prop_assert_eq!(depth, 0);
    }
}

#[test]
fn a_comparison_reads_back_from_its_url_and_ranks_a_rare_jump_first() {
    use super::{Compare, Dimension, difference};
    for compare in [Compare::Filters, Compare::Range { from: -5, to: 17 }] {
        assert_eq!(Compare::decode(&compare.encode()), Some(compare));
    }
    assert_eq!(Compare::decode("9,3"), None);
    assert_eq!(Compare::decode("pick"), None);
    // 0.1% → 2% differs more than 73% → 76%, and nothing from nothing not at all.
    assert!(difference(0.02, 0.001) > difference(0.73, 0.76));
    assert_eq!(difference(0.0, 0.0), 0.0);
    assert_eq!(difference(0.3, 0.3), 0.0);
    let cuts = [10.0, 20.0];
    assert_eq!(Dimension::bin(&cuts, 0), (None, Some(10.0)));
    assert_eq!(Dimension::bin(&cuts, 1), (Some(10.0), Some(20.0)));
    assert_eq!(Dimension::bin(&cuts, 2), (Some(20.0), None));
}
