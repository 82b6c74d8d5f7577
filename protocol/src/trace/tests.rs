//! The waterfall's order and the critical path, on a known trace and on arbitrary ones.

use proptest::prelude::*;

use super::*;

fn span(id: &str, parent: &str, start: i64, end: i64) -> Span {
    Span {
        span_id: id.to_owned(),
        parent_span_id: parent.to_owned(),
        service: "svc".to_owned(),
        name: id.to_owned(),
        start,
        end,
        status: "unset".to_owned(),
    }
}

#[test]
fn the_critical_path_follows_what_the_end_waited_on() {
    // root 0..100 calls a (10..40) and b (20..90); b calls c (30..50) and d (55..85).
    let spans = vec![
        span("d", "b", 55, 85),
        span("root", "", 0, 100),
        span("a", "root", 10, 40),
        span("b", "root", 20, 90),
        span("c", "b", 30, 50),
    ];
    let order: Vec<(&str, usize)> = waterfall(&spans)
        .iter()
        .map(|p| (spans[p.index].span_id.as_str(), p.depth))
        .collect();
    assert_eq!(order, [("root", 0), ("a", 1), ("b", 1), ("c", 2), ("d", 2)]);
    let path: Vec<(&str, i64, i64)> = critical_path(&spans)
        .iter()
        .map(|s| (spans[s.span].span_id.as_str(), s.start, s.end))
        .collect();
    // root until a starts... a ends at 40 but b started at 20: b (not a) is waited on from 20.
    assert_eq!(
        path,
        [
            ("root", 0, 20),
            ("b", 20, 30),
            ("c", 30, 50),
            ("b", 50, 55),
            ("d", 55, 85),
            ("b", 85, 90),
            ("root", 90, 100),
        ]
    );
}

#[test]
fn trace_ids_are_32_hex_digits_and_reach_sql_as_literals() {
    assert!(is_trace_id("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert!(!is_trace_id("00000000000000000000000000000000"));
    assert!(!is_trace_id("4BF92F3577B34DA6A3CE929D0E0E4736"));
    assert!(!is_trace_id("4bf92f3577b34da6a3ce929d0e0e473"));
    assert!(spans_sql("x' OR 1=1 --").is_none());
    assert_eq!(
        spans_sql("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        "SELECT * FROM otel_traces WHERE trace_id = '4bf92f3577b34da6a3ce929d0e0e4736' \
         ORDER BY _time LIMIT 10000"
    );
}

#[test]
fn cycles_and_orphans_still_place_every_span_once() {
    let spans = vec![
        span("a", "b", 0, 10),
        span("b", "a", 0, 10),
        span("self", "self", 5, 6),
        span("orphan", "missing", 1, 2),
    ];
    let mut placed: Vec<usize> = waterfall(&spans).iter().map(|p| p.index).collect();
    placed.sort();
    assert_eq!(placed, [0, 1, 2, 3]);
    // The orphan is the only root: its path is itself.
    assert_eq!(
        critical_path(&spans),
        [Segment {
            span: 3,
            start: 1,
            end: 2
        }]
    );
}

/// Arbitrary traces: a tree of up to 40 spans, children anywhere in time (even outside their
/// parent: clocks skew).
fn trace() -> impl Strategy<Value = Vec<Span>> {
    prop::collection::vec((any::<prop::sample::Index>(), 0i64..1000, 0i64..500), 1..40).prop_map(
        |raw| {
            let mut spans: Vec<Span> = Vec::new();
            for (i, (parent, start, len)) in raw.into_iter().enumerate() {
                let parent = if i == 0 {
                    String::new()
                } else {
                    spans[parent.index(i)].span_id.clone()
                };
                spans.push(span(&format!("s{i}"), &parent, start, start + len));
            }
            spans
        },
    )
}

proptest! {
    /// Every span is placed once, after its parent; the critical path tiles the root's
    /// duration exactly, each segment inside its span's own times, and runs down the tree
    /// (each segment's span is the root or a descendant of it).
    #[test]
    fn the_critical_path_tiles_the_root(spans in trace()) {
        let placed = waterfall(&spans);
        prop_assert_eq!(placed.len(), spans.len());
        let position: HashMap<usize, usize> =
            placed.iter().enumerate().map(|(at, p)| (p.index, at)).collect();
        for (i, s) in spans.iter().enumerate().skip(1) {
            let parent: usize = s.parent_span_id[1..].parse().unwrap();
            prop_assert!(position[&parent] < position[&i]);
        }
        let root = main_root(&spans).unwrap();
        prop_assert_eq!(root, 0);
        let path = critical_path(&spans);
        let mut at = spans[0].start;
        for segment in &path {
            prop_assert_eq!(segment.start, at);
            prop_assert!(segment.end > segment.start);
            let s = &spans[segment.span];
            prop_assert!(segment.start >= s.start && segment.end <= s.end, "{:?} outside {:?}", segment, s);
            at = segment.end;
        }
        prop_assert_eq!(at, spans[0].end.max(spans[0].start));
    }
}
