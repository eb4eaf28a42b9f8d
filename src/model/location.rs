//! Source locations (file, line, column) of declarations; pure data, no I/O.
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// A span in a `.star` file. Lines and columns are 1-based, like rustc and editors.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
}

impl Location {
    /// A location that only names a file (for errors about whole files).
    pub fn file_only(file: impl Into<PathBuf>) -> Self {
        Location { file: file.into(), line: 0, column: 0, end_line: 0, end_column: 0 }
    }

    /// The same location with its file shown relative to `root` when it lies inside it.
    pub fn relative_to(&self, root: &std::path::Path) -> Location {
        let mut l = self.clone();
        if let Ok(rel) = self.file.strip_prefix(root) {
            l.file = rel.to_path_buf();
        }
        l
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}
