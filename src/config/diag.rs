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

/// Collects diagnostics for one configuration file.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    file: Arc<Path>,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(file: Arc<Path>) -> Self {
        Diagnostics {
            file,
            items: Vec::new(),
        }
    }

    pub fn file(&self) -> &Arc<Path> {
        &self.file
    }

    pub fn push(
        &mut self,
        severity: Severity,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let d = Diagnostic {
            severity,
            file: self.file.clone(),
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

    /// Diagnostics in file order (line, then severity), absences last.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut v: Vec<&Diagnostic> = self.items.iter().collect();
        v.sort_by_key(|d| (d.line.unwrap_or(usize::MAX), d.severity));
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
