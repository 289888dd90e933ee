//! Static interceptor — Flume's `static`
//! (`org.apache.flume.interceptor.StaticInterceptor$Builder`): sets one fixed header
//! (`key` = `value`, defaults "key" and "value"), keeping an existing one unless
//! `preserveExisting = false`.

use super::{Interceptor, InterceptorSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticSettings {
    pub key: String,
    pub value: String,
    pub preserve_existing: bool,
}

impl StaticSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        Some(StaticSettings {
            key: r.string("key", "key"),
            value: r.string("value", "value"),
            preserve_existing: r.bool("preserveExisting", true),
        })
    }
}

impl Describe for StaticSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("key".into(), self.key.clone()),
            ("value".into(), self.value.clone()),
            (
                "preserveExisting".into(),
                self.preserve_existing.to_string(),
            ),
        ]
    }
}

impl InterceptorSpec for StaticSettings {
    fn build(&self) -> Box<dyn Interceptor> {
        Box::new(StaticInterceptor::new(self.clone()))
    }
}

pub struct StaticInterceptor {
    s: StaticSettings,
}

impl StaticInterceptor {
    pub fn new(s: StaticSettings) -> Self {
        StaticInterceptor { s }
    }
}

impl Interceptor for StaticInterceptor {
    fn intercept(&mut self, mut events: Vec<Event>) -> Vec<Event> {
        for e in &mut events {
            if self.s.preserve_existing && e.headers.get(&self.s.key).is_some() {
                continue;
            }
            e.headers.insert(self.s.key.clone(), self.s.value.clone());
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preserve_existing_defaults_to_true() {
        let mut i = StaticInterceptor::new(StaticSettings {
            key: "dc".into(),
            value: "eu".into(),
            preserve_existing: true,
        });
        let mut e = Event::new("x");
        e.headers.insert("dc", "us");
        let out = i.intercept(vec![e, Event::new("y")]);
        assert_eq!(out[0].headers.get("dc"), Some("us"));
        assert_eq!(out[1].headers.get("dc"), Some("eu"));
    }
}
