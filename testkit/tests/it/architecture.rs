//! The workspace's layering, checked on its sources: no module of any crate imports (through
//! `crate::` or `super::` paths) a module that imports it back, directly or around a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `crate::a::b` module paths of one crate's `src/`, with their text (unit tests left out).
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).unwrap().with_extension("");
                let mut parts: Vec<String> = relative
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    parts.pop();
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let text = match text.find("#[cfg(test)]\nmod tests") {
                    Some(at) => text[..at].to_string(),
                    None => text,
                };
                found.insert(parts.join("::"), text);
            }
        }
    }
    found
}

/// The module paths following `marker` in `text` (`crate::a::b::Item` gives `a::b::Item`).
fn paths_after<'a>(text: &'a str, marker: &'a str) -> impl Iterator<Item = Vec<&'a str>> + 'a {
    text.match_indices(marker).map(move |(at, _)| {
        let rest = &text[at + marker.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        rest[..end].split("::").filter(|p| !p.is_empty()).collect()
    })
}

/// Which modules each module imports.
fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, text) in modules {
        let parent = name.rsplit_once("::").map_or("", |(p, _)| p);
        let targets = paths_after(text, "crate::")
            .map(|parts| parts.join("::"))
            .chain(paths_after(text, "super::").map(|parts| {
                let joined = parts.join("::");
                if parent.is_empty() {
                    joined
                } else {
                    format!("{parent}::{joined}")
                }
            }));
        let entry = edges.entry(name.as_str()).or_default();
        for target in targets {
            // The longest known module the path names: `a::b::Item` imports `a::b`.
            let mut candidate = target.as_str();
            let module = loop {
                if let Some((known, _)) = modules.get_key_value(candidate) {
                    break Some(known.as_str());
                }
                match candidate.rsplit_once("::") {
                    Some((shorter, _)) => candidate = shorter,
                    None => break None,
                }
            };
            let Some(module) = module else { continue };
            let nested = |a: &str, b: &str| a.starts_with(&format!("{b}::")) || b.is_empty();
            if module != name && !nested(name, module) && !nested(module, name) {
                entry.insert(module);
            }
        }
    }
    edges
}

/// One circle of imports, if there is any.
fn circle<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        at: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(start) = path.iter().position(|m| *m == at) {
            let mut circle = path[start..].to_vec();
            circle.push(at);
            return Some(circle);
        }
        if !done.insert(at) {
            return None;
        }
        path.push(at);
        for next in edges.get(at).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

fn crates() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.join("Cargo.toml").exists() && path.join("src").is_dir())
        .collect();
    crates.sort();
    crates
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let crates = crates();
    assert!(crates.len() >= 10, "the workspace's crates: {crates:?}");
    for dir in crates {
        let modules = modules(&dir.join("src"));
        let edges = imports(&modules);
        assert_eq!(
            circle(&edges),
            None,
            "an import circle in {}: split the shared part into a module of its own",
            dir.display()
        );
    }
}

#[test]
fn the_check_finds_a_circle() {
    let modules = BTreeMap::from([
        ("a".to_string(), "use crate::b::Thing;".to_string()),
        ("b".to_string(), "use crate::c;".to_string()),
        ("c".to_string(), "fn f() { crate::a::go() }".to_string()),
        ("d".to_string(), "use super::a;".to_string()),
    ]);
    let edges = imports(&modules);
    assert_eq!(circle(&edges), Some(vec!["a", "b", "c", "a"]));
    let acyclic = BTreeMap::from([
        ("a".to_string(), "use crate::b::Thing;".to_string()),
        ("b".to_string(), "// nothing".to_string()),
    ]);
    assert_eq!(circle(&imports(&acyclic)), None);
}
