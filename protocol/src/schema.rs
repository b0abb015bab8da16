//! The JSON Schema of protocol v2, generated from the registry.
//!
//! One document describes every method (params, result, how frame clients
//! are answered) and every event frame, with the types under `$defs`. It is
//! checked in at `protocol/schema/protocol-v2.schema.json`; a test fails
//! when the types drift from it.

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::registry::{Event, Method, MethodKind};

/// Path of the checked-in schema, relative to the protocol crate.
pub const SCHEMA_FILE: &str = "schema/protocol-v2.schema.json";

/// Collects the schema of each declared method and event.
pub struct Describer {
    generator: SchemaGenerator,
    methods: Map<String, Value>,
    events: Map<String, Value>,
}

impl Describer {
    pub(crate) fn method<M: Method>(&mut self) {
        let params = self.generator.subschema_for::<M::Params>();
        let result = self.generator.subschema_for::<M::Result>();
        self.methods.insert(
            M::NAME.to_owned(),
            json!({
                "kind": MethodKind::Request,
                "frame_reply": M::FRAME_REPLY,
                "params": params,
                "result": result,
            }),
        );
    }

    pub(crate) fn event<E: Event>(&mut self) {
        let body = self.generator.subschema_for::<E::Frame>();
        self.events.insert(
            E::NAME.to_owned(),
            json!({
                "kind": MethodKind::Notification,
                "frame": {
                    "allOf": [body],
                    "properties": { "type": { "const": E::NAME } },
                    "required": ["type"],
                },
            }),
        );
    }
}

/// Generates the schema document.
pub fn generate() -> Value {
    let mut describer = Describer {
        generator: SchemaSettings::draft2020_12().into_generator(),
        methods: Map::new(),
        events: Map::new(),
    };
    crate::describe_methods(&mut describer);
    crate::describe_events(&mut describer);
    let definitions = describer.generator.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "letta-daemon protocol v2",
        "description": "Methods are JSON-RPC 2.0 requests (method = name, params, result) and Letta Code frames ({type: name, request_id, ...params}, answered by frame_reply). Events are frames, sent as JSON-RPC notifications of method \"event\" whose params are the frame.",
        "protocol": crate::PROTOCOL_NAME,
        "protocol_version": crate::PROTOCOL_VERSION,
        "methods": describer.methods,
        "events": describer.events,
        "$defs": definitions,
    })
}

/// The schema as it is written to disk: pretty JSON with a final newline.
pub fn render() -> String {
    let mut text = serde_json::to_string_pretty(&sorted(generate())).unwrap_or_default();
    text.push('\n');
    text
}

/// `value` with every object's keys in order, so the file reads and diffs
/// the same whatever order the schema was built in.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut fields: Vec<(String, Value)> = fields.into_iter().collect();
            fields.sort_by(|(a, _), (b, _)| a.cmp(b));
            Value::Object(
                fields
                    .into_iter()
                    .map(|(key, value)| (key, sorted(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}
