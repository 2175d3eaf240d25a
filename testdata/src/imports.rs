//! Reads a crate's sources and lists which of its modules name which, so
//! that tests can hold the crate to its layering: imports only go down, and
//! no modules name each other in a circle (ARCHITECTURE.md). A rule that
//! nothing checks grows back; this is the check.
//!
//! It reads text, not the compiler's view: comments, string and character
//! literals are blanked first, then every path that starts with `crate::`,
//! `super::` or `self::` is resolved to a module path (`use` groups such as
//! `crate::{a, b::{c, d}}` included). A name the crate root re-exports
//! (`crate::Engine` for `pub use engine::Engine;` in `lib.rs`) resolves to
//! where it is defined, so going through the root does not hide an upward
//! import. Paths relative to a child module (`use run::X;` in the parent of
//! `run`) stay inside the module's own unit and are not followed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file and the module paths it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceModule {
    /// Its module path, `::`-separated, `""` for the crate root
    /// (`format::chain` for `src/format/chain.rs`).
    pub path: String,
    /// The file, relative to the crate's `src/`.
    pub file: PathBuf,
    /// Every crate path it names, resolved and without the `crate::`
    /// prefix (`format::chain::Hash`, `core::reads`).
    pub names: BTreeSet<String>,
}

/// Every `.rs` file under `src`, parsed.
pub fn read_crate(src: &Path) -> std::io::Result<Vec<SourceModule>> {
    let mut files = Vec::new();
    collect(src, src, &mut files)?;
    files.sort();
    let mut modules = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(src.join(&file))?;
        let path = module_path(&file);
        let names = paths_named(&blank(&text), &path);
        modules.push(SourceModule { path, file, names });
    }
    let reexports = modules.iter().find(|m| m.path.is_empty()).map(|root| root_reexports(src, root)).unwrap_or_default();
    for m in &mut modules {
        m.names = m.names.iter().map(|n| resolve(n, &reexports)).collect();
    }
    Ok(modules)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            collect(root, &p, out)?;
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
        }
    }
    Ok(())
}

/// `format/chain.rs` → `format::chain`; `core/mod.rs` → `core`; `lib.rs` → ``.
fn module_path(file: &Path) -> String {
    let mut parts: Vec<String> = file.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.last_mut() {
        *last = last.trim_end_matches(".rs").to_string();
    }
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts.join("::")
}

/// The text with comments and string and character literals replaced by
/// spaces (line breaks kept), so that only code is searched.
pub fn blank(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep_breaks = |s: &[char]| s.iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }).collect::<String>();
    while i < c.len() {
        let rest = &c[i..];
        let end = if rest.starts_with(&['/', '/']) {
            i + rest.iter().position(|&ch| ch == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            block_comment_end(&c, i)
        } else if let Some(e) = string_end(&c, i) {
            e
        } else if c[i] == '\'' {
            char_literal_end(&c, i).unwrap_or(i + 1)
        } else {
            out.push(c[i]);
            i += 1;
            continue;
        };
        if c[i] == '\'' && end == i + 1 {
            // A lifetime's quote: code.
            out.push('\'');
        } else {
            out.push_str(&keep_breaks(&c[i..end]));
        }
        i = end;
    }
    out
}

fn block_comment_end(c: &[char], start: usize) -> usize {
    let (mut depth, mut i) = (0usize, start);
    while i + 1 < c.len() {
        if c[i] == '/' && c[i + 1] == '*' {
            depth += 1;
            i += 2;
        } else if c[i] == '*' && c[i + 1] == '/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    c.len()
}

/// The end of a string literal starting at `i` (`"…"`, `b"…"`, `r#"…"#`,
/// `br"…"`), or `None` when none starts there.
fn string_end(c: &[char], i: usize) -> Option<usize> {
    let ident_before = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
    let mut j = i;
    if c.get(j) == Some(&'b') && !ident_before {
        j += 1;
    }
    let raw = c.get(j) == Some(&'r') && !(j == i && ident_before);
    if raw {
        j += 1;
        let hashes = c[j..].iter().take_while(|&&ch| ch == '#').count();
        j += hashes;
        if c.get(j) != Some(&'"') {
            return None;
        }
        let close: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
        let body = j + 1;
        return Some(
            c[body..].windows(close.len()).position(|w| w == close.as_slice()).map_or(c.len(), |p| body + p + close.len()),
        );
    }
    if c.get(j) != Some(&'"') || (j == i && ident_before && c[i] != '"') {
        return None;
    }
    let mut k = j + 1;
    while k < c.len() {
        match c[k] {
            '\\' => k += 2,
            '"' => return Some(k + 1),
            _ => k += 1,
        }
    }
    Some(c.len())
}

/// The end of a character literal at `i` (`'x'`, `'\n'`, `'\u{1F600}'`),
/// or `None` for a lifetime.
fn char_literal_end(c: &[char], i: usize) -> Option<usize> {
    if c.get(i + 1) == Some(&'\\') {
        // The escaped character itself may be a quote: `'\''`.
        let close = c.get(i + 3..)?.iter().position(|&ch| ch == '\'')?;
        return Some(i + 3 + close + 1);
    }
    (c.get(i + 2) == Some(&'\'')).then_some(i + 3)
}

fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// Every path in `code` (already blanked) that starts with `crate::`,
/// `super::` or `self::`, resolved against the module `here`.
fn paths_named(code: &str, here: &str) -> BTreeSet<String> {
    let c: Vec<char> = code.chars().collect();
    let mut out = BTreeSet::new();
    // Inline modules (`mod tests { … }`) open inside the file's module:
    // their names, with the brace depth each closes at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
            }
            _ => {}
        }
        if !is_ident(c[i]) || (i > 0 && (is_ident(c[i - 1]) || c[i - 1] == ':')) {
            i += 1;
            continue;
        }
        let word: String = c[i..].iter().take_while(|&&ch| is_ident(ch)).collect();
        let after = i + word.chars().count();
        if word == "mod" {
            let mut j = after;
            while c.get(j).is_some_and(|ch| ch.is_whitespace()) {
                j += 1;
            }
            let name: String = c[j..].iter().take_while(|&&ch| is_ident(ch)).collect();
            let mut k = j + name.chars().count();
            while c.get(k).is_some_and(|ch| ch.is_whitespace()) {
                k += 1;
            }
            if !name.is_empty() && c.get(k) == Some(&'{') {
                inline.push((name, depth + 1));
            }
            i = after;
            continue;
        }
        let mut module = split(here);
        module.extend(inline.iter().map(|(n, _)| n.clone()));
        let base = match word.as_str() {
            "crate" => Some(Vec::new()),
            "self" => Some(module),
            "super" => {
                module.pop();
                Some(module)
            }
            _ => None,
        };
        match base {
            Some(base) if c[after..].starts_with(&[':', ':']) => {
                let (paths, end) = parse_tail(&c, after + 2);
                for p in paths {
                    let mut full = base.clone();
                    full.extend(p.into_iter().filter(|s| s != "self"));
                    resolve_supers(&mut full);
                    if !full.is_empty() {
                        out.insert(full.join("::"));
                    }
                }
                i = end;
            }
            _ => i = after,
        }
    }
    out
}

fn split(path: &str) -> Vec<String> {
    path.split("::").filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// `a::super::b` → `b`, for paths like `super::super::x`.
fn resolve_supers(p: &mut Vec<String>) {
    let mut out: Vec<String> = Vec::new();
    for s in p.drain(..) {
        if s == "super" {
            out.pop();
        } else {
            out.push(s);
        }
    }
    *p = out;
}

/// Parses what follows `crate::` at `i`: a path (`a::b::C`) or a group
/// (`{a, b::{c, d}}`); returns every path it names and where it ends.
fn parse_tail(c: &[char], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let skip_ws = |i: &mut usize| {
        while *i < c.len() && c[*i].is_whitespace() {
            *i += 1;
        }
    };
    let mut prefix = Vec::new();
    loop {
        skip_ws(&mut i);
        if c.get(i) == Some(&'{') {
            let mut paths = Vec::new();
            i += 1;
            loop {
                skip_ws(&mut i);
                match c.get(i) {
                    None => return (paths, i),
                    Some('}') => return (paths, i + 1),
                    Some(',') => i += 1,
                    Some(_) => {
                        let (inner, end) = parse_tail(c, i);
                        for p in inner {
                            paths.push(prefix.iter().cloned().chain(p).collect());
                        }
                        if end == i {
                            i += 1;
                        } else {
                            i = end;
                        }
                    }
                }
            }
        }
        let word: String = c[i..].iter().take_while(|&&ch| is_ident(ch) || ch == '*').collect();
        if word.is_empty() {
            return (if prefix.is_empty() { Vec::new() } else { vec![prefix] }, i);
        }
        i += word.chars().count();
        if word != "*" {
            prefix.push(word);
        }
        let mut j = i;
        skip_ws(&mut j);
        if c[j..].starts_with(&[':', ':']) {
            i = j + 2;
        } else {
            return (vec![prefix], i);
        }
    }
}

/// Names the crate root re-exports, each to the path it comes from:
/// `pub use engine::Engine;` maps `Engine` to `engine::Engine`.
fn root_reexports(src: &Path, root: &SourceModule) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(src.join(&root.file)).unwrap_or_default();
    let code = blank(&text);
    let mut map = BTreeMap::new();
    for stmt in code.split(';') {
        let Some(at) = stmt.find("pub use ") else { continue };
        let path = stmt[at + "pub use ".len()..].trim();
        let path = path.strip_prefix("crate::").unwrap_or(path);
        let c: Vec<char> = path.chars().collect();
        for p in parse_tail(&c, 0).0 {
            if let Some(last) = p.last() {
                map.insert(last.clone(), p.join("::"));
            }
        }
    }
    map
}

/// `Engine` → `engine::Engine` through the root's re-exports, repeatedly
/// (a re-export of a re-export); other paths unchanged.
fn resolve(name: &str, reexports: &BTreeMap<String, String>) -> String {
    let mut name = name.to_string();
    for _ in 0..8 {
        let first = name.split("::").next().unwrap_or_default().to_string();
        match reexports.get(&first) {
            Some(to) if *to != first => name = format!("{to}{}", &name[first.len()..]),
            _ => break,
        }
    }
    name
}

/// The unit a module path belongs to: the longest unit in `units` that is
/// the path or a prefix of it (`core::reads::head` → `core`), or `None`.
/// The crate root's unit, `""`, holds only the root itself.
pub fn unit_of<'u>(path: &str, units: &[&'u str]) -> Option<&'u str> {
    units
        .iter()
        .filter(|u| path == **u || (!u.is_empty() && path.starts_with(&format!("{u}::"))))
        .max_by_key(|u| u.len())
        .copied()
}

/// A cycle of the graph `edges` (unit → units it names), if it has one:
/// the units around it, the first repeated at the end.
pub fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // Depth-first search with colours: 0 unvisited, 1 on the stack, 2 done.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        colour: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        colour.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match colour.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, edges, colour, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(n.to_string(), 2);
        None
    }
    let mut colour = BTreeMap::new();
    for n in edges.keys() {
        if colour.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, edges, &mut colour, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Checks a crate against its layer table: `layers` lists every unit with
/// its layer (0 the lowest). Returns one line per problem: a file in no
/// unit, a unit naming a unit of a higher layer, a cycle between units.
pub fn check_layers(src: &Path, layers: &[(&str, usize)]) -> std::io::Result<Vec<String>> {
    let modules = read_crate(src)?;
    let units: Vec<&str> = layers.iter().map(|(u, _)| *u).collect();
    let layer = |u: &str| layers.iter().find(|(n, _)| *n == u).map(|(_, l)| *l);
    let mut problems = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &modules {
        let Some(from) = unit_of(&m.path, &units) else {
            problems.push(format!("src/{} is in no layer: add its module to the layer table", m.file.display()));
            continue;
        };
        for name in &m.names {
            // A name in no unit is an item of the crate root itself.
            let Some(to) = unit_of(name, &units).or_else(|| units.iter().copied().find(|u| u.is_empty())) else {
                continue;
            };
            if to == from {
                continue;
            }
            if layer(to) > layer(from) {
                problems.push(format!(
                    "src/{} ({from}, layer {}) names `crate::{name}` ({to}, layer {}): imports only go down",
                    m.file.display(),
                    layer(from).unwrap_or(0),
                    layer(to).unwrap_or(0)
                ));
            }
            edges.entry(from.to_string()).or_default().insert(to.to_string());
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        problems.push(format!("modules name each other in a circle: {}", cycle.join(" → ")));
    }
    Ok(problems)
}

/// Every function of the crate in `src` longer than `max` lines, as
/// `src/FILE:LINE fn NAME (N lines)`: a function that long does several
/// things, and the next reader has to find which.
pub fn long_functions(src: &Path, max: usize) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for m in read_crate(src)? {
        let code = blank(&std::fs::read_to_string(src.join(&m.file))?);
        let c: Vec<char> = code.chars().collect();
        let line_at = |i: usize| c[..i].iter().filter(|&&ch| ch == '\n').count() + 1;
        let mut i = 0;
        while i + 3 < c.len() {
            let starts_fn = c[i..].starts_with(&['f', 'n', ' ']) && (i == 0 || !is_ident(c[i - 1]));
            if !starts_fn {
                i += 1;
                continue;
            }
            let name: String = c[i + 3..].iter().take_while(|&&ch| is_ident(ch)).collect();
            // The body: the first `{` before any `;` (a declaration without one has none).
            let Some(open) = c[i..].iter().position(|&ch| ch == '{' || ch == ';').map(|p| i + p).filter(|&p| c[p] == '{') else {
                i += 3;
                continue;
            };
            let mut depth = 0usize;
            let mut close = open;
            for (j, &ch) in c.iter().enumerate().skip(open) {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            close = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let lines = line_at(close) - line_at(i) + 1;
            if lines > max {
                out.push(format!("src/{}:{} fn {name} ({lines} lines)", m.file.display(), line_at(i)));
            }
            // Nested functions are counted within their parent.
            i = close.max(i + 3);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_found_in_groups_and_resolved_relative_to_the_module() {
        let code = blank(
            "use crate::{a::B, c::{d, e::F}};\n// crate::comment::X\nlet s = \"crate::string\";\nuse super::sib::G;\nfn f<'a>(x: &'a str) -> char { '\\'' }\nlet r = r#\"crate::raw\"#;\nself::child::h();",
        );
        let names = paths_named(&code, "feat::run");
        let expect: BTreeSet<String> =
            ["a::B", "c::d", "c::e::F", "feat::sib::G", "feat::run::child::h"].iter().map(|s| s.to_string()).collect();
        assert_eq!(names, expect);
        // `super` inside an inline module is the file's own module.
        let code = blank("mod tests {\n    use super::Thing;\n}\nuse super::up::Other;\n");
        let expect: BTreeSet<String> = ["feat::run::Thing", "feat::up::Other"].iter().map(|s| s.to_string()).collect();
        assert_eq!(paths_named(&code, "feat::run"), expect);
    }

    #[test]
    fn units_are_the_longest_matching_prefix() {
        let units = ["", "format", "format::chain", "core"];
        assert_eq!(unit_of("format::chain::Hash", &units), Some("format::chain"));
        assert_eq!(unit_of("format::keys", &units), Some("format"));
        assert_eq!(unit_of("core::reads::head", &units), Some("core"));
        assert_eq!(unit_of("", &units), Some(""));
        assert_eq!(unit_of("new", &units), None);
        assert_eq!(unit_of("coreish", &["core"]), None);
    }

    #[test]
    fn a_cycle_is_found_and_a_tree_is_not() {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        edges.entry("a".into()).or_default().insert("b".into());
        edges.entry("b".into()).or_default().insert("c".into());
        edges.entry("a".into()).or_default().insert("c".into());
        assert_eq!(find_cycle(&edges), None);
        edges.entry("c".into()).or_default().insert("a".into());
        assert_eq!(find_cycle(&edges), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    }
}
