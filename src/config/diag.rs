//! Diagnostics: every configuration problem names the file, the line, the key, what is wrong and
//! what would be valid — `FILE:LINE: key: what is wrong (what would be valid)`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A configuration error: Flume itself would drop the component (or the whole agent), and
    /// rflume drops it the same way.
    Error,
    /// Flume would run this, rflume cannot (a type or class it does not implement). `rflume agent`
    /// refuses to start unless the operator opts in to run the rest.
    Unsupported,
    /// It runs, but not exactly as the file says (deprecated name, ignored key, Flume quirk).
    Warning,
}

impl Severity {
    /// How `rflume check` and the agent's log tag it.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Unsupported => "unsupported",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: Arc<Path>,
    /// 1-based line of the key; `None` when the problem is an absence (e.g. a missing key).
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}: {}", self.key, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Collects diagnostics for one configuration, which may come from several files (Flume 1.11
/// merges several `--conf-file`s into one configuration). Lines are numbered through all files in
/// order — the second file's first line follows the first file's last — so that every component
/// keeps one plain line number per key; a diagnostic is stored with the file and the line within
/// it that such a number stands for.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    /// (file, lines before it): the files in order, each with the global number of the line
    /// before its first.
    files: Vec<(Arc<Path>, usize)>,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(file: Arc<Path>) -> Self {
        Diagnostics {
            files: vec![(file, 0)],
            items: Vec::new(),
        }
    }

    /// Diagnostics for several files read in this order; `files[i].1` is the number of lines
    /// before file `i` (0 for the first).
    pub fn for_files(files: Vec<(Arc<Path>, usize)>) -> Self {
        assert!(!files.is_empty(), "a configuration has at least one file");
        Diagnostics {
            files,
            items: Vec::new(),
        }
    }

    /// Empty diagnostics for the same files (a nested reader's), to [`Diagnostics::extend`]
    /// this one with later.
    pub fn child(&self) -> Self {
        Diagnostics {
            files: self.files.clone(),
            items: Vec::new(),
        }
    }

    /// The first (or only) file.
    pub fn file(&self) -> &Arc<Path> {
        &self.files[0].0
    }

    /// The file and the line within it that a global line number stands for.
    pub fn locate(&self, line: usize) -> (Arc<Path>, usize) {
        let (file, before) = self
            .files
            .iter()
            .rev()
            .find(|(_, before)| *before < line)
            .unwrap_or(&self.files[0]);
        (file.clone(), line - before)
    }

    /// `FILE:LINE` of a global line number (`FILE` alone without one), for messages outside
    /// diagnostics.
    pub fn location(&self, line: Option<usize>) -> String {
        match line {
            Some(l) => {
                let (file, local) = self.locate(l);
                format!("{}:{local}", file.display())
            }
            None => self.file().display().to_string(),
        }
    }

    /// Takes over the diagnostics of a [`Diagnostics::child`].
    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.items {
            if !self.items.contains(&d) {
                self.items.push(d);
            }
        }
    }

    pub fn push(
        &mut self,
        severity: Severity,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let (file, line) = match line {
            Some(l) => {
                let (file, local) = self.locate(l);
                (file, Some(local))
            }
            None => (self.file().clone(), None),
        };
        let d = Diagnostic {
            severity,
            file,
            line,
            key: key.into(),
            message: message.into(),
            hint,
        };
        if !self.items.contains(&d) {
            self.items.push(d);
        }
    }

    pub fn error(
        &mut self,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<Option<String>>,
    ) {
        self.push(Severity::Error, line, key, message, hint.into());
    }

    pub fn warn(
        &mut self,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<Option<String>>,
    ) {
        self.push(Severity::Warning, line, key, message, hint.into());
    }

    /// Flume does not support this: the agent refuses to start without the opt-in.
    pub fn unsupported(
        &mut self,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<Option<String>>,
    ) {
        self.push(Severity::Unsupported, line, key, message, hint.into());
    }

    /// Whether anything keeps the file from running as written (an error or an unsupported
    /// component).
    /// Each diagnostic as `rflume check` prints it (for tests).
    #[cfg(test)]
    pub fn lines(&self) -> Vec<String> {
        self.items.iter().map(|i| i.to_string()).collect()
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity != Severity::Warning)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    /// Errors and unsupported components together.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity != Severity::Warning)
            .count()
    }

    /// The components Flume would run and rflume cannot, in file order.
    pub fn unsupported_items(&self) -> Vec<&Diagnostic> {
        self.sorted()
            .into_iter()
            .filter(|d| d.severity == Severity::Unsupported)
            .collect()
    }

    /// Diagnostics in file order (file, line, then severity), absences last.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let file_index = |d: &Diagnostic| {
            self.files
                .iter()
                .position(|(f, _)| *f == d.file)
                .unwrap_or(0)
        };
        let mut v: Vec<&Diagnostic> = self.items.iter().collect();
        v.sort_by_key(|d| match d.line {
            Some(l) => (0, file_index(d), l, d.severity),
            None => (1, 0, 0, d.severity),
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_file_line_key_message_and_hint() {
        let mut d = Diagnostics::new(Arc::from(Path::new("conf/a.conf")));
        d.error(
            Some(7),
            "a1.sinks.k1.channel",
            "channel c9 is not defined",
            Some("defined channels: c1".to_string()),
        );
        assert_eq!(
            d.items[0].to_string(),
            "conf/a.conf:7: a1.sinks.k1.channel: channel c9 is not defined (defined channels: c1)"
        );
        assert!(d.has_errors());
    }
}
