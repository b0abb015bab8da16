//! The checked-in schema must be exactly what the registry generates.

use std::path::PathBuf;

const FIX: &str = "LETTA_UPDATE_SCHEMA=1 cargo test -p letta-protocol --test schema_drift";

#[test]
fn checked_in_schema_matches_the_registry() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(letta_protocol::schema::SCHEMA_FILE);
    let generated = letta_protocol::schema::render();
    if std::env::var_os("LETTA_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}; run `{FIX}`", path.display()));
    assert!(
        checked_in == generated,
        "protocol/{} is out of date with the types; run `{FIX}` and commit the result",
        letta_protocol::schema::SCHEMA_FILE
    );
}

#[test]
fn schema_lists_every_declared_method_and_event() {
    let schema = letta_protocol::schema::generate();
    for info in letta_protocol::METHODS {
        let method = &schema["methods"][info.name];
        assert!(
            method["params"].is_object(),
            "{} has no params schema",
            info.name
        );
        assert!(
            method["result"].is_object(),
            "{} has no result schema",
            info.name
        );
    }
    for name in letta_protocol::EVENTS {
        assert!(
            schema["events"][name]["frame"].is_object(),
            "{name} has no frame schema"
        );
    }
    // Every $ref resolves.
    let text = schema.to_string();
    for reference in text.split("\"$ref\":\"#/$defs/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schema["$defs"][name].is_object(), "dangling $ref to {name}");
    }
}

#[test]
fn results_leave_type_and_request_id_to_the_frame() {
    // The frame codec splices results after `type` and `request_id`.
    let schema = letta_protocol::schema::generate();
    for info in letta_protocol::METHODS {
        let reference = schema["methods"][info.name]["result"]["$ref"]
            .as_str()
            .unwrap();
        let name = reference.trim_start_matches("#/$defs/");
        let properties = &schema["$defs"][name]["properties"];
        for reserved in ["type", "request_id"] {
            assert!(
                properties.get(reserved).is_none(),
                "{} result has a {reserved} field",
                info.name
            );
        }
    }
}
