//! A trace as the trace view draws it: its spans (rows of `otel_traces`) as a tree, in the
//! order of a waterfall, and its critical path: the chain of work the trace's end waited on.
//!
//! The critical path is Jaeger's: from the root's end backwards, the child that finished last
//! is on it, up to that child's start; before that, the child that finished last before then
//! (one still running then was not waited on), and so on; where no child ran, the span's own
//! work is. Its segments tile the root's duration exactly once.

use std::collections::HashMap;

use crate::dashboard::substitute::string_literal;

/// One span: its ids, service, name and times (µs since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub span_id: String,
    /// Empty for a root.
    pub parent_span_id: String,
    pub service: String,
    pub name: String,
    pub start: i64,
    pub end: i64,
    /// `ok`, `error` or `unset`.
    pub status: String,
}

/// A span's place in the waterfall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Index into the spans given.
    pub index: usize,
    /// 0 for a root.
    pub depth: usize,
}

/// A piece of the critical path: `span` (an index) was the work the trace waited on over
/// `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub span: usize,
    pub start: i64,
    pub end: i64,
}

/// Whether `id` can be a trace id: 32 hexadecimal digits (lowercase, as `otel_traces` has
/// them), not all zero.
pub fn is_trace_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && id.bytes().any(|b| b != b'0')
}

/// The SQL of a trace's spans, oldest first; `None` when `trace_id` is not one.
pub fn spans_sql(trace_id: &str) -> Option<String> {
    is_trace_id(trace_id).then(|| {
        format!(
            "SELECT * FROM otel_traces WHERE trace_id = {} ORDER BY _time LIMIT 10000",
            string_literal(trace_id)
        )
    })
}

/// The SQL of a trace's log records, oldest first; `None` when `trace_id` is not one.
pub fn logs_sql(trace_id: &str) -> Option<String> {
    is_trace_id(trace_id).then(|| {
        format!(
            "SELECT * FROM otel_logs WHERE trace_id = {} ORDER BY _time LIMIT 1000",
            string_literal(trace_id)
        )
    })
}

/// The spans in waterfall order: each after its parent, siblings by start. A span whose parent
/// is not in the trace is a root; a span in a cycle of parents appears once, as a root.
pub fn waterfall(spans: &[Span]) -> Vec<Placed> {
    let children = children(spans);
    let by_id: HashMap<&str, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id.as_str(), i))
        .collect();
    let mut roots: Vec<usize> = (0..spans.len())
        .filter(|&i| !by_id.contains_key(spans[i].parent_span_id.as_str()))
        .collect();
    roots.sort_by_key(|&i| (spans[i].start, i));
    let mut placed = Vec::with_capacity(spans.len());
    let mut seen = vec![false; spans.len()];
    let visit = |root: usize, placed: &mut Vec<Placed>, seen: &mut Vec<bool>| {
        let mut stack = vec![(root, 0)];
        while let Some((i, depth)) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            placed.push(Placed { index: i, depth });
            for &child in children[i].iter().rev() {
                stack.push((child, depth + 1));
            }
        }
    };
    for root in roots {
        visit(root, &mut placed, &mut seen);
    }
    // What is left is in cycles: each first unseen span becomes a root.
    for i in 0..spans.len() {
        if !seen[i] {
            visit(i, &mut placed, &mut seen);
        }
    }
    placed
}

/// Each span's children (indices), by start.
fn children(spans: &[Span]) -> Vec<Vec<usize>> {
    let by_id: HashMap<&str, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id.as_str(), i))
        .collect();
    let mut children = vec![Vec::new(); spans.len()];
    for (i, span) in spans.iter().enumerate() {
        if let Some(&parent) = by_id.get(span.parent_span_id.as_str())
            && parent != i
        {
            children[parent].push(i);
        }
    }
    for list in &mut children {
        list.sort_by_key(|&i| (spans[i].start, i));
    }
    children
}

/// The root the critical path starts from: the longest of the spans without a parent in the
/// trace.
pub fn main_root(spans: &[Span]) -> Option<usize> {
    let ids: std::collections::HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    (0..spans.len())
        .filter(|&i| !ids.contains(spans[i].parent_span_id.as_str()))
        .max_by_key(|&i| (spans[i].end - spans[i].start, std::cmp::Reverse(i)))
}

/// The critical path from [`main_root`], as segments in time order.
pub fn critical_path(spans: &[Span]) -> Vec<Segment> {
    let Some(root) = main_root(spans) else {
        return Vec::new();
    };
    let children = children(spans);
    let mut out = Vec::new();
    let mut on_path = vec![false; spans.len()];
    let (start, end) = (spans[root].start, spans[root].end.max(spans[root].start));
    walk(spans, &children, root, start, end, &mut on_path, &mut out);
    out.sort_by_key(|s| s.start);
    out
}

/// Adds the critical path of span `i` over `[lo, hi)` (within its own times) to `out`.
fn walk(
    spans: &[Span],
    children: &[Vec<usize>],
    i: usize,
    lo: i64,
    hi: i64,
    on_path: &mut [bool],
    out: &mut Vec<Segment>,
) {
    // A cycle of parents cannot make the walk loop.
    if std::mem::replace(&mut on_path[i], true) {
        push(out, i, lo, hi);
        return;
    }
    let floor = lo.max(spans[i].start).min(hi);
    let limit = hi.min(spans[i].end).max(floor);
    if limit < hi {
        push(out, i, limit, hi);
    }
    let mut cursor = limit;
    let mut by_end = children[i].clone();
    by_end.sort_by_key(|&c| std::cmp::Reverse((spans[c].end, c)));
    for c in by_end {
        // A child running past its parent's end is cut there (clocks skew).
        let child_end = spans[c].end.min(limit);
        // One still running when the path reached it was not waited on; nor one that did
        // not start before.
        if child_end > cursor || spans[c].start >= cursor {
            continue;
        }
        if child_end <= floor {
            break;
        }
        push(out, i, child_end, cursor);
        let child_start = spans[c].start.max(floor);
        walk(spans, children, c, child_start, child_end, on_path, out);
        cursor = child_start;
    }
    push(out, i, floor, cursor);
    on_path[i] = false;
}

fn push(out: &mut Vec<Segment>, span: usize, start: i64, end: i64) {
    if end > start {
        out.push(Segment { span, start, end });
    }
}

#[cfg(test)]
mod tests;
