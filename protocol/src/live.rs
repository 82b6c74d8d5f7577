//! The live protocol of `GET /api/v1/live` (docs/live-protocol.md): JSON text frames.
//!
//! ```text
//!  client ── {"type":"subscribe","id":"p1","sql":"…"} ──────────────────────────────► server
//!         ◄── {"type":"snapshot","id":"p1","seq":1,"columns","key","order","rows",…} ──
//!         ◄── {"type":"delta","id":"p1","seq":2,"upserts","deletes","watermark","now"} ─
//!         ◄── {"type":"error","id":"p1","kind","message"} ─────────────────────────────
//!  client ── {"type":"tail","id":"t1","stream":"web","filter":"status >= 500"} ─────► server
//!         ◄── {"type":"events","id":"t1","seq":1,"columns","rows","skipped":0,"now"} ──
//! ```
//!
//! A client keeps each subscription's result with [`LiveResult`]: a snapshot replaces it, a delta
//! deletes keys then upserts rows, and rows stay in the query's order ([`Shape::sort`]). The
//! server merges what a slow client has not been sent with [`PendingChange`], and writes a delta
//! for every subscriber of a query from one encoding of its rows ([`Change::frame`]).

mod message;
mod state;

pub use message::{
    BadMessage, Change, ClientMessage, Delta, Direction, ErrorFrame, Events, MAX_ID_LEN, Mode,
    Order, ServerMessage, Shape, Snapshot,
};
pub use state::{LiveResult, PendingChange, Violation};

#[cfg(test)]
mod tests;
