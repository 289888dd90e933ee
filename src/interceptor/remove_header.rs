//! Remove-header interceptor — Flume's `remove_header`
//! (`org.apache.flume.interceptor.RemoveHeaderInterceptor$Builder`): removes the header
//! `withName`, every header named in `fromList` (split on the regex `fromListSeparator`, default
//! `\s*,\s*`) and every header whose whole name matches the regex `matching`. Any combination of
//! the three may be set; with none the interceptor changes nothing, as in Flume.

use super::java_regex::JavaRegex;
use super::{read_regex, Interceptor, InterceptorSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;

/// Flume's `LIST_SEPARATOR_DEFAULT`.
pub const DEFAULT_LIST_SEPARATOR: &str = r"\s*,\s*";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoveHeaderSettings {
    pub with_name: Option<String>,
    pub from_list: Option<String>,
    pub list_separator: JavaRegex,
    pub matching: Option<JavaRegex>,
}

impl RemoveHeaderSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let with_name = r.opt_string("withName");
        let from_list = r.opt_string("fromList");
        let list_separator = match r.raw("fromListSeparator") {
            Some((v, line)) => read_regex(r, "fromListSeparator", v, line, false)?,
            None => JavaRegex::new(DEFAULT_LIST_SEPARATOR).ok()?,
        };
        let matching = match r.raw("matching") {
            Some((v, line)) => Some(read_regex(r, "matching", v, line, true)?),
            None => None,
        };
        Some(RemoveHeaderSettings {
            with_name,
            from_list,
            list_separator,
            matching,
        })
    }

    /// `fromList` split as Java's `String.split(separator)`: trailing empty names dropped.
    fn names(&self) -> Vec<String> {
        let Some(list) = &self.from_list else {
            return Vec::new();
        };
        let mut names: Vec<String> = self
            .list_separator
            .regex()
            .split(list)
            .map(str::to_string)
            .collect();
        while names.last().is_some_and(|n| n.is_empty()) {
            names.pop();
        }
        names
    }
}

impl Describe for RemoveHeaderSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let unset = || "(unset)".to_string();
        vec![
            (
                "withName".into(),
                self.with_name.clone().unwrap_or_else(unset),
            ),
            (
                "fromList".into(),
                self.from_list.clone().unwrap_or_else(unset),
            ),
            (
                "fromListSeparator".into(),
                self.list_separator.as_str().to_string(),
            ),
            (
                "matching".into(),
                self.matching
                    .as_ref()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(unset),
            ),
        ]
    }
}

impl InterceptorSpec for RemoveHeaderSettings {
    fn build(&self) -> Box<dyn Interceptor> {
        Box::new(RemoveHeaderInterceptor {
            with_name: self.with_name.clone(),
            from_list: self.names(),
            matching: self.matching.clone(),
        })
    }
}

pub struct RemoveHeaderInterceptor {
    with_name: Option<String>,
    from_list: Vec<String>,
    matching: Option<JavaRegex>,
}

impl Interceptor for RemoveHeaderInterceptor {
    fn intercept(&mut self, mut events: Vec<Event>) -> Vec<Event> {
        for e in &mut events {
            if e.headers.is_empty() {
                continue;
            }
            if let Some(name) = &self.with_name {
                e.headers.remove(name);
            }
            if !self.from_list.is_empty() || self.matching.is_some() {
                e.headers.retain(|k, _| {
                    let listed = self.from_list.iter().any(|n| n == k);
                    let matched = self
                        .matching
                        .as_ref()
                        .is_some_and(|m| m.regex().is_match(k));
                    !(listed || matched)
                });
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Headers;

    fn run(s: RemoveHeaderSettings, headers: &[(&str, &str)]) -> Vec<String> {
        let mut i = s.build();
        let h: Headers = headers.iter().copied().collect();
        let out = i.intercept(vec![Event::with_headers(h, "x")]);
        out[0].headers.iter().map(|(k, _)| k.to_string()).collect()
    }

    fn settings(
        with_name: Option<&str>,
        from_list: Option<&str>,
        matching: Option<&str>,
    ) -> RemoveHeaderSettings {
        RemoveHeaderSettings {
            with_name: with_name.map(String::from),
            from_list: from_list.map(String::from),
            list_separator: JavaRegex::new(DEFAULT_LIST_SEPARATOR).expect("default"),
            matching: matching.map(|m| JavaRegex::whole(m).expect("compiles")),
        }
    }

    #[test]
    fn removes_by_name_list_and_whole_name_match() {
        let h = [
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("dc", "4"),
            ("xdc", "5"),
        ];
        assert_eq!(
            run(settings(Some("a"), None, None), &h),
            ["b", "c", "dc", "xdc"]
        );
        assert_eq!(
            run(settings(None, Some("b , c,zz"), None), &h),
            ["a", "dc", "xdc"]
        );
        assert_eq!(
            run(settings(None, None, Some("d.")), &h),
            ["a", "b", "c", "xdc"],
            "matches() needs the whole name"
        );
        assert_eq!(
            run(settings(Some("a"), Some("b"), Some("x.*")), &h),
            ["c", "dc"]
        );
        assert_eq!(run(settings(None, None, None), &h).len(), 5);
    }
}
