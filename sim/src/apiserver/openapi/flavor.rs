//! The two shapes of one schema: Swagger 2.0 (`/openapi/v2`, references under
//! `#/definitions/`, a description beside a `$ref`) and OpenAPI 3.0 (`/openapi/v3/...`,
//! references under `#/components/schemas/`, wrapped in `allOf` to carry a description),
//! as kube-apiserver publishes them.

use serde_json::{Value, json};

/// Which OpenAPI version a document is built for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Flavor {
    V2,
    V3,
}

impl Flavor {
    /// `{"$ref": ...}` to the definition `name`.
    pub(super) fn to(self, name: &str) -> Value {
        let prefix = match self {
            Flavor::V2 => "#/definitions/",
            Flavor::V3 => "#/components/schemas/",
        };
        json!({ "$ref": format!("{prefix}{name}") })
    }

    /// A property whose type is the definition `name`.
    pub(super) fn field(self, name: &str, description: &str) -> Value {
        match self {
            Flavor::V2 => {
                let mut field = self.to(name);
                field["description"] = json!(description);
                field
            }
            Flavor::V3 => {
                json!({ "allOf": [self.to(name)], "default": {}, "description": description })
            }
        }
    }

    /// An array property of the definition `name`.
    pub(super) fn array_of(self, name: &str, description: &str) -> Value {
        json!({ "type": "array", "description": description, "items": self.item(name) })
    }

    /// A map property from strings to the definition `name`.
    pub(super) fn map_of(self, name: &str, description: &str) -> Value {
        json!({ "type": "object", "description": description, "additionalProperties": self.item(name) })
    }

    fn item(self, name: &str) -> Value {
        match self {
            Flavor::V2 => self.to(name),
            Flavor::V3 => json!({ "allOf": [self.to(name)], "default": {} }),
        }
    }

    /// A parameter of an operation with a primitive `type`.
    pub(super) fn parameter(
        self,
        name: &str,
        location: &str,
        kind: &str,
        description: &str,
    ) -> Value {
        let mut param = json!({ "name": name, "in": location, "description": description, "uniqueItems": true });
        if location == "path" {
            param["required"] = json!(true);
        }
        match self {
            Flavor::V2 => param["type"] = json!(kind),
            Flavor::V3 => param["schema"] = json!({ "type": kind, "uniqueItems": true }),
        }
        param
    }
}

/// A string property.
pub(super) fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// An integer property (`int32` or `int64`).
pub(super) fn integer(format: &str, description: &str) -> Value {
    json!({ "type": "integer", "format": format, "description": description })
}

pub(super) fn boolean(description: &str) -> Value {
    json!({ "type": "boolean", "description": description })
}

/// A list of strings.
pub(super) fn strings(description: &str) -> Value {
    json!({ "type": "array", "description": description, "items": { "type": "string", "default": "" } })
}

/// A map of strings to strings.
pub(super) fn string_map(description: &str) -> Value {
    json!({ "type": "object", "description": description, "additionalProperties": { "type": "string", "default": "" } })
}
