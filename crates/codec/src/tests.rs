//! The schemas as files and as compiled in: compatible version to version, documented field
//! by field, fingerprinted as the specification says, and matching the mapping's branch tables.

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;

use crate::avro;
use crate::schemas::{Subject, catalog};

#[test]
fn union_branch_tables_match_the_schemas() {
    for (subject, branches) in [
        (Subject::Command, &avro::COMMAND_BRANCHES[..]),
        (Subject::Event, &avro::EVENT_BRANCHES[..]),
    ] {
        let Schema::Record(record) = &catalog().latest(subject).schema else {
            panic!()
        };
        let payload = record.fields.iter().find(|f| f.name == "payload").unwrap();
        let Schema::Union(union) = &payload.schema else {
            panic!()
        };
        let names: Vec<String> = union
            .variants()
            .iter()
            .map(|v| match v {
                Schema::Record(r) => r.name.name().to_owned(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, branches);
    }
}

#[test]
fn every_schema_version_is_backward_compatible_with_the_one_before() {
    for subject in Subject::ALL {
        let mut versions: Vec<_> = catalog().versions(subject).collect();
        versions.sort_by_key(|v| v.version);
        assert_eq!(versions[0].version, 1);
        for pair in versions.windows(2) {
            let (old, new) = (pair[0], pair[1]);
            assert_eq!(
                new.version,
                old.version + 1,
                "{subject:?}: versions are consecutive"
            );
            // BACKWARD: the new schema reads data written with the previous one.
            SchemaCompatibility::can_read(&old.schema, &new.schema).unwrap_or_else(|e| {
                panic!(
                    "{subject:?} v{} cannot read v{}: {e}",
                    new.version, old.version
                )
            });
        }
    }
}

#[test]
fn every_schema_file_in_schemas_is_compiled_in() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".avsc") else {
            continue;
        };
        let (subject, version) = stem
            .rsplit_once(".v")
            .expect("files are <subject>.v<N>.avsc");
        let version: u32 = version.parse().unwrap();
        let known = Subject::ALL
            .iter()
            .any(|s| s.stem() == subject && catalog().versions(*s).any(|v| v.version == version));
        assert!(known, "{name} is not in codec::schemas::SOURCES");
    }
}

#[test]
fn incompatible_changes_are_caught() {
    // The check above must be able to fail: removing a required field's default breaks
    // BACKWARD compatibility.
    let old =
        Schema::parse_str(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#)
            .unwrap();
    let new = Schema::parse_str(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]}"#,
    )
    .unwrap();
    assert!(SchemaCompatibility::can_read(&old, &new).is_err());
}

#[test]
fn every_field_of_every_schema_has_a_doc() {
    fn check(schema: &Schema, path: &str, missing: &mut Vec<String>) {
        match schema {
            Schema::Record(record) => {
                for field in &record.fields {
                    let here = format!("{path}.{}", field.name);
                    if field.doc.as_deref().is_none_or(str::is_empty) {
                        missing.push(here.clone());
                    }
                    check(&field.schema, &here, missing);
                }
            }
            Schema::Union(union) => union
                .variants()
                .iter()
                .for_each(|v| check(v, path, missing)),
            Schema::Array(array) => check(&array.items, path, missing),
            Schema::Map(map) => check(&map.types, path, missing),
            _ => {}
        }
    }
    for subject in Subject::ALL {
        for version in catalog().versions(subject) {
            let mut missing = Vec::new();
            check(&version.schema, subject.stem(), &mut missing);
            assert!(
                missing.is_empty(),
                "v{}: fields without doc: {missing:?}",
                version.version
            );
        }
    }
}

/// Vectors from fastavro (tests/fixtures/avro/generate.py): an implementation we do not use.
fn fastavro_vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../../../tests/fixtures/avro/vectors.json")).unwrap()
}

#[test]
fn fingerprints_are_the_specifications_as_fastavro_computes_them() {
    let vectors = fastavro_vectors();
    let fingerprints = vectors["fingerprints"].as_object().unwrap();
    let mut checked = 0;
    for subject in Subject::ALL {
        for version in catalog().versions(subject) {
            let file = format!("{}.v{}.avsc", subject.stem(), version.version);
            let want = fingerprints[&file].as_str().unwrap();
            assert_eq!(
                hex::encode(version.fingerprint.to_le_bytes()),
                want,
                "{file}"
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        fingerprints.len(),
        "every schema file has a vector"
    );
}
