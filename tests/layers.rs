//! The library's modules form layers, and each uses only the layers below it (README, "Layout"):
//! no import cycles, so each module can be read, tested and changed on top of what it uses.
//! This reads the sources, so a `crate::` path that climbs a layer fails here, tests included.

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom first. `sim` (test support) may use everything but the window, and every module's
/// own unit tests may use `sim`.
const LAYERS: &[&str] = &[
    "error", "crypto", "card", "config", "logging", "remote", "store", "sync", "render", "station",
    "polish", "sim", "ui",
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|m| *m == module)
        .unwrap_or_else(|| panic!("module {module} is not in LAYERS: add it where it belongs"))
}

/// The top-level module each file under src/ belongs to; None for the crate roots and the
/// binaries, which sit above every layer.
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "cli" | "bin")).then(|| name.to_owned())
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `text` (a file of `module`) names through `crate::`, with the line
/// of each, that sit above `module`: `crate::a::x` and each name of a `crate::{a, b::c}`
/// group. Past the file's `#[cfg(test)]` tests module, `sim` is allowed.
fn climbs(module: &str, text: &str) -> Vec<(usize, String)> {
    let tests_start = text.find("#[cfg(test)]").unwrap_or(text.len());
    let name = |at: &str| -> String {
        at.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let used: Vec<String> = match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                group.split(',').map(|item| name(item.trim())).collect()
            }
            None => vec![name(rest)],
        };
        for used in used {
            if used.is_empty() || used == module || (used == "sim" && at > tests_start) {
                continue;
            }
            if layer(&used) > layer(module) {
                found.push((text[..at].lines().count(), used));
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut found = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap();
        let Some(module) = module_of(relative) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, used) in climbs(&module, &text) {
            found.insert(format!(
                "src/{}:{line}: {module} uses {used}",
                relative.display()
            ));
        }
    }
    assert!(
        found.is_empty(),
        "{} uses of a higher layer (order, bottom first: {LAYERS:?}):\n{}",
        found.len(),
        found.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_check_sees_a_module_that_climbs() {
    // The scan itself, on made-up sources: plain paths and groups are caught...
    let card = "use crate::crypto::block;\nuse crate::station::print;\n";
    assert_eq!(climbs("card", card), vec![(2, "station".to_owned())]);
    let grouped = "use crate::{crypto, store::Store, ui};\n";
    assert_eq!(
        climbs("card", grouped),
        vec![(1, "store".to_owned()), (1, "ui".to_owned())]
    );
    // ...a module's own unit tests may use the simulators, its code may not.
    let tests = "use crate::sim::x;\n#[cfg(test)]\nmod tests {\n    use crate::sim::y;\n}\n";
    assert_eq!(climbs("station", tests), vec![(1, "sim".to_owned())]);
    assert_eq!(
        module_of(Path::new("card/apdu.rs")).as_deref(),
        Some("card")
    );
    assert_eq!(module_of(Path::new("config.rs")).as_deref(), Some("config"));
    assert_eq!(module_of(Path::new("main.rs")), None);
}
