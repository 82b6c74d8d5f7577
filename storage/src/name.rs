//! Stream names: validated once, when built, by the rule the server and the web app share
//! ([`protocol::is_stream_name`]).

use std::fmt;

use crate::Error;

/// A stream's name: 1 to 64 characters from `[a-z0-9_]`, so it is safe as a directory name and as
/// an SQL identifier without quoting.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamName(String);

impl StreamName {
    pub fn new(name: &str) -> Result<StreamName, Error> {
        if protocol::is_stream_name(name) {
            Ok(StreamName(name.to_owned()))
        } else {
            Err(Error::InvalidStreamName {
                name: name.chars().take(80).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "demo_http", "x1", &"a".repeat(64)] {
            assert!(StreamName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Demo", "a-b", "a.b", "../x", "é", &"a".repeat(65)] {
            assert!(StreamName::new(bad).is_err(), "{bad}");
        }
    }
}
