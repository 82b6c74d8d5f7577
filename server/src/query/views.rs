//! What a query may read: the streams as every reader sees them, or as admins do. Some streams
//! (the audit trail) are for admins only; a session planned for anyone else does not have them
//! in its catalog, so no query, live subscription, drill-down or `system` table shows them.

use std::sync::Arc;

use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};

use crate::audit::AUDIT_STREAM;

/// Who a session plans queries for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    /// Anyone allowed to query: every stream but those for admins only.
    Anyone,
    /// Admins: every stream.
    Admin,
}

impl Reader {
    /// Whether this reader may read `stream`.
    pub(crate) fn may_read(self, stream: &str) -> bool {
        self == Reader::Admin || !admins_only(stream)
    }
}

/// Whether only admins may read `stream`.
pub(crate) fn admins_only(stream: &str) -> bool {
    stream == AUDIT_STREAM
}

/// Why a reader who is not an admin may not read `stream`.
pub(crate) fn admins_only_message(stream: &str) -> String {
    format!("the stream `{stream}` is readable by admins only")
}

/// The store's streams as `reader` sees them: the others are not listed, and naming one is
/// refused with the reason.
#[derive(Debug)]
pub(crate) struct Streams {
    pub(crate) streams: Arc<dyn SchemaProvider>,
    pub(crate) reader: Reader,
}

#[async_trait::async_trait]
impl SchemaProvider for Streams {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.streams.table_names();
        names.retain(|name| self.reader.may_read(name));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if !self.reader.may_read(name) {
            return Err(DataFusionError::Plan(admins_only_message(name)));
        }
        self.streams.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.reader.may_read(name) && self.streams.table_exist(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_read_the_audit_trail() {
        assert!(Reader::Admin.may_read(AUDIT_STREAM));
        assert!(!Reader::Anyone.may_read(AUDIT_STREAM));
        for stream in ["web", "_alerts", "_notifications", "_audit_copy", "audit"] {
            assert!(Reader::Anyone.may_read(stream), "{stream}");
        }
    }
}
