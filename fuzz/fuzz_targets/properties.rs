//! The properties parser and the validator behind `rflume check` / `rflume agent`: any text,
//! valid or not, is parsed, substituted, laid out, built through every component registry and
//! validated without a panic, and the graph renders.
#![no_main]

use std::collections::HashMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rflume::config::properties::{self, Texts};
use rflume::config::Diagnostics;

fuzz_target!(|data: &[u8]| {
    // Flume reads UTF-8 (rflume falls back to ISO-8859-1 in Texts::read; lossy text is enough
    // to reach every parser path from here).
    let text = String::from_utf8_lossy(data);
    let path = Path::new("fuzz.conf");
    // A config filter of type `external` runs a command named by the file: never let the fuzzer
    // run programs. Keys are checked after unescaping (`\u0066` spells `f`).
    let mut diags = Diagnostics::new(std::sync::Arc::from(path));
    if let Ok(props) = properties::parse(&text, path, &mut diags) {
        if props
            .iter()
            .any(|p| p.key.to_ascii_lowercase().contains("configfilters"))
        {
            return;
        }
    }
    let texts = Texts::one(path, &text);
    let system: HashMap<String, String> = HashMap::new();
    for agent in ["a1", "agent"] {
        if let Ok(loaded) = rflume::graph::load_texts(&texts, agent, &system) {
            let _ = loaded.config.render();
            for d in loaded.diagnostics.sorted() {
                let _ = d.to_string();
            }
            let _ = loaded.config.runs_as_written();
        }
    }
});
