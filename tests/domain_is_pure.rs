//! `src/domain/` is the heart of orderflow and does no I/O: it may not name an I/O crate.

use std::path::Path;

const FORBIDDEN: [&str; 6] = ["tokio", "sqlx", "rdkafka", "redis", "axum", "reqwest"];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The I/O crates a source text refers to, as `crate::` paths or `use` items.
fn io_crates_named(source: &str) -> Vec<&'static str> {
    FORBIDDEN
        .into_iter()
        .filter(|krate| {
            source.lines().any(|line| {
                let line = line.trim_start();
                !line.starts_with("//")
                    && (line.contains(&format!("{krate}::"))
                        || line.contains(&format!("use {krate}"))
                        || line.contains(&format!("extern crate {krate}")))
            })
        })
        .collect()
}

#[test]
fn the_domain_imports_no_io_crate() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain"),
        &mut files,
    );
    assert!(files.len() >= 5, "found the domain sources");
    for file in files {
        let named = io_crates_named(&std::fs::read_to_string(&file).unwrap());
        assert!(named.is_empty(), "{} uses {named:?}", file.display());
    }
}

#[test]
fn the_check_sees_an_import() {
    assert_eq!(io_crates_named("use tokio::sync::Mutex;"), ["tokio"]);
    assert_eq!(io_crates_named("let x = sqlx::query(\"\");"), ["sqlx"]);
    assert!(io_crates_named("// tokio:: in a comment").is_empty());
}
