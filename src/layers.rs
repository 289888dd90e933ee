//! The layers of the crate and the rule that keeps them: a module imports only from layers below
//! its own, never sideways or up. A test reads every `crate::…` and `super::…` path in `src/` and
//! fails on one that goes against this order, and on an import circle between sibling files.
//!
//! | rank | modules | what they are |
//! |---|---|---|
//! | 0 | `testing`, `java` | unit-test helpers (compiled for tests only); models of Java behaviour |
//! | 1 | `event`, `metrics`, `shutdown`, `logging`, `durable` | plain data and plumbing |
//! | 2 | `config`, `monitor` | properties syntax, the typed key reader, diagnostics, the table shape |
//! | 3 | `kafka` | Kafka client settings and Flume's Avro event bytes, shared by the Kafka channel, source and sink |
//! | 4 | `channel`, `rpc` | the channel trait, transactions, the channel registry; Flume's RPC wire protocols |
//! | 5 | `interceptor` | the interceptor trait and registry |
//! | 6 | `source`, `sink` | sources (with the ChannelProcessor) and sinks (with the runner) |
//! | 7 | `graph` | the agent graph: layout, building through the registries, validation |
//! | 8 | `agent` | wiring and lifecycle |
//! | 9 | `cli` | the command line |
//!
//! Modules of the same rank do not import each other (a source never reaches into a sink).
#![cfg(test)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const LAYERS: &[(&str, u32)] = &[
    // Unit-test helpers, which any module's tests may use.
    ("testing", 0),
    // Leaf models of Java behaviour (HashMap order, Double.toString) that any layer may use.
    ("java", 0),
    ("event", 1),
    ("metrics", 1),
    ("shutdown", 1),
    ("logging", 1),
    ("durable", 1),
    ("layers", 1),
    ("config", 2),
    // The monitoring server renders the registry; it knows no component.
    ("monitor", 2),
    ("channel", 4),
    // Flume's RPC wire protocols (Avro IPC) and their shared properties, for the avro source and
    // the avro sink.
    ("rpc", 4),
    // Kafka client settings (broker list, kafka.producer.* / kafka.consumer.* → librdkafka) and
    // Flume's Avro event bytes, shared by the Kafka channel, source and sink.
    ("kafka", 3),
    ("interceptor", 5),
    ("source", 6),
    ("sink", 6),
    ("graph", 7),
    ("agent", 8),
    ("cli", 9),
];

/// A module path inside the crate, e.g. `["source", "taildir", "position"]`.
type ModPath = Vec<String>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/` with its module path (`mod.rs` names its folder's module).
fn modules() -> Vec<(ModPath, PathBuf)> {
    fn walk(dir: &Path, prefix: &ModPath, out: &mut Vec<(ModPath, PathBuf)>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .expect("src/ is readable")
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                let mut p = prefix.clone();
                p.push(name);
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut p = prefix.clone();
                if name != "mod" && !(prefix.is_empty() && (name == "lib" || name == "main")) {
                    p.push(name);
                }
                out.push((p, path));
            }
        }
    }
    let mut out = Vec::new();
    walk(&src_dir(), &Vec::new(), &mut out);
    out
}

/// The code of a file without comments (doc comments mention paths that are not imports).
fn code_of(path: &Path) -> String {
    fs::read_to_string(path)
        .expect("source file is readable")
        .lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string literal (a URL) would cut the line short; none of this
            // crate's paths follow one on the same line, so cutting is safe enough here.
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths `code` refers to through `crate::` and `super::`, as written (brace groups
/// expanded: `use crate::{a, b::c}` refers to `a` and `b::c`). Inside an inline `mod tests`,
/// `super` is the file's own module.
fn references(module: &ModPath, code: &str) -> Vec<ModPath> {
    match code.find("mod tests {") {
        Some(i) => {
            let mut inner = module.clone();
            inner.push("tests".into());
            let mut out = references_in(module, &code[..i]);
            out.extend(references_in(&inner, &code[i..]));
            out
        }
        None => references_in(module, code),
    }
}

fn references_in(module: &ModPath, code: &str) -> Vec<ModPath> {
    let mut out = Vec::new();
    for (start, anchor) in [("crate::", None), ("super::", Some(()))] {
        let mut rest = code;
        while let Some(i) = rest.find(start) {
            let before = rest[..i].chars().last();
            rest = &rest[i + start.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            // `super::super::x` is resolved one step per `super`.
            // In `foo/bar.rs` (module foo::bar) and in `foo/mod.rs` (module foo) alike, `super`
            // is the module's parent.
            let mut base: ModPath = if anchor.is_some() {
                let mut b = module.clone();
                b.pop();
                b
            } else {
                Vec::new()
            };
            let mut tail = rest;
            while let Some(t) = tail.strip_prefix("super::") {
                base.pop();
                tail = t;
            }
            for path in expand(tail) {
                let mut full = base.clone();
                full.extend(path);
                out.push(full);
            }
        }
    }
    out
}

/// `a::b::{c, d::e}` → [[a, b, c], [a, b, d, e]]; `a::b` → [[a, b]].
fn expand(text: &str) -> Vec<ModPath> {
    let mut path = Vec::new();
    let mut rest = text;
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                let mut out = Vec::new();
                for part in group[..end].split(',') {
                    let part = part.trim();
                    if part.is_empty() || part == "self" {
                        out.push(path.clone());
                        continue;
                    }
                    for sub in expand(part) {
                        let mut p = path.clone();
                        p.extend(sub);
                        out.push(p);
                    }
                }
                return out;
            }
            return vec![path];
        }
        rest = &rest[ident.len()..];
        path.push(ident);
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => return vec![path],
        }
    }
}

/// The longest prefix of `path` that is a module of the crate.
fn resolve(path: &ModPath, known: &BTreeSet<ModPath>) -> Option<ModPath> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| known.contains(p))
}

fn rank(top: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == top).map(|(_, r)| *r)
}

/// (from, to) module edges of the whole crate.
fn edges() -> Vec<(ModPath, ModPath, PathBuf)> {
    let mods = modules();
    let known: BTreeSet<ModPath> = mods.iter().map(|(m, _)| m.clone()).collect();
    let mut out = Vec::new();
    for (module, file) in &mods {
        // This file's own test quotes import lines as data.
        if module.first().is_some_and(|m| m == "layers") {
            continue;
        }
        for r in references(module, &code_of(file)) {
            if let Some(target) = resolve(&r, &known) {
                if &target != module {
                    out.push((module.clone(), target, file.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn every_top_level_module_has_a_layer() {
    for (module, file) in modules() {
        if let Some(top) = module.first() {
            assert!(
                rank(top).is_some(),
                "{}: module {top} has no layer in src/layers.rs; add it to LAYERS",
                file.display()
            );
        }
    }
}

#[test]
fn imports_go_one_way() {
    let mut wrong = Vec::new();
    for (from, to, file) in edges() {
        let (Some(f), Some(t)) = (from.first(), to.first()) else {
            continue;
        };
        if f == t {
            continue;
        }
        let (rf, rt) = (rank(f).unwrap_or(u32::MAX), rank(t).unwrap_or(u32::MAX));
        if rt >= rf {
            wrong.push(format!(
                "{}: {} (layer {rf}) imports {} (layer {rt})",
                file.display(),
                from.join("::"),
                to.join("::")
            ));
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the layer order of src/layers.rs:\n{}",
        wrong.join("\n")
    );
}

/// Within a folder, its files and sub-folders (a sub-folder counts as one unit: an import of
/// any file in it is an import of the sub-folder) must not import each other in a circle. The
/// folder's own `mod.rs` (which owns its registry and trait) is above its children, not beside
/// them, so edges to and from it are not sibling edges.
#[test]
fn sibling_files_import_without_circles() {
    let mut graph: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (from, to, _) in edges() {
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        if common == 0 || from.len() <= common || to.len() <= common {
            continue;
        }
        graph
            .entry(from[..=common].to_vec())
            .or_default()
            .insert(to[..=common].to_vec());
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &ModPath,
        graph: &BTreeMap<ModPath, BTreeSet<ModPath>>,
        stack: &mut Vec<ModPath>,
        done: &mut BTreeSet<ModPath>,
    ) -> Option<Vec<ModPath>> {
        if let Some(i) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            panic!(
                "import circle between sibling files: {}",
                names.join(" -> ")
            );
        }
    }
}

#[test]
fn the_reader_of_imports_sees_what_it_must() {
    let m: ModPath = vec!["source".into(), "exec".into()];
    let refs = references(
        &m,
        "use crate::{config::reader::PropReader, event::Event};\nuse super::framer::LineFramer;\nlet x = crate::cli::run;",
    );
    let as_text: Vec<String> = refs.iter().map(|r| r.join("::")).collect();
    assert!(
        as_text.contains(&"config::reader::PropReader".to_string()),
        "{as_text:?}"
    );
    assert!(as_text.contains(&"event::Event".to_string()), "{as_text:?}");
    assert!(
        as_text.contains(&"source::framer::LineFramer".to_string()),
        "{as_text:?}"
    );
    assert!(as_text.contains(&"cli::run".to_string()), "{as_text:?}");
    let refs = references(&m, "use super::x;\nmod tests {\n use super::*;\n}");
    let as_text: Vec<String> = refs.iter().map(|r| r.join("::")).collect();
    assert_eq!(as_text, ["source::x", "source::exec"]);
}
