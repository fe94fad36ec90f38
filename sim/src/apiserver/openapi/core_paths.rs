//! Paths of the core document: list and read of what the simulator serves (nodes, namespaces,
//! pods), with kube-apiserver's operation ids and `x-kubernetes-*` extensions. Each object
//! also has its PATCH operation, with the `fieldValidation` parameter: that is how kubectl
//! learns that the server validates fields itself and skips its own client-side validation,
//! as it does against kube-apiserver. The simulated objects are read-only, so a PATCH is
//! answered 405, which the operation says.

use serde_json::{Map, Value, json};

use super::core_schemas::{core, meta};
use super::flavor::Flavor;

/// A served core resource: plural, kind, namespaced.
const RESOURCES: [(&str, &str, bool); 3] = [
    ("nodes", "Node", false),
    ("namespaces", "Namespace", false),
    ("pods", "Pod", true),
];

const PATCH_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// What an operation does.
#[derive(Copy, Clone)]
enum Action {
    List,
    Read,
    Patch,
}

/// Every path of the core document.
pub(super) fn paths(f: Flavor) -> Map<String, Value> {
    let mut paths = Map::new();
    for (plural, kind, namespaced) in RESOURCES {
        if namespaced {
            let all = format!("/api/v1/{plural}");
            let list = format!("/api/v1/namespaces/{{namespace}}/{plural}");
            paths.insert(
                all,
                path(f, kind, &[], &[(Action::List, "ForAllNamespaces")]),
            );
            paths.insert(
                list,
                path(f, kind, &["namespace"], &[(Action::List, "Namespaced")]),
            );
            let item = format!("/api/v1/namespaces/{{namespace}}/{plural}/{{name}}");
            let ops = [(Action::Read, "Namespaced"), (Action::Patch, "Namespaced")];
            paths.insert(item, path(f, kind, &["namespace", "name"], &ops));
        } else {
            paths.insert(
                format!("/api/v1/{plural}"),
                path(f, kind, &[], &[(Action::List, "")]),
            );
            let ops = [(Action::Read, ""), (Action::Patch, "")];
            paths.insert(
                format!("/api/v1/{plural}/{{name}}"),
                path(f, kind, &["name"], &ops),
            );
        }
    }
    paths
}

/// A path item: its path parameters and its operations (each with an operation-id infix,
/// `Namespaced` or `ForAllNamespaces`).
fn path(f: Flavor, kind: &str, params: &[&str], ops: &[(Action, &str)]) -> Value {
    let parameters: Vec<Value> = params
        .iter()
        .map(|p| {
            let description = if *p == "name" {
                format!("name of the {kind}")
            } else {
                "object name and auth scope, such as for teams and projects".to_owned()
            };
            f.parameter(p, "path", "string", &description)
        })
        .collect();
    let mut item = json!({ "parameters": parameters });
    for (action, infix) in ops {
        let method = match action {
            Action::List | Action::Read => "get",
            Action::Patch => "patch",
        };
        item[method] = operation(f, kind, *action, infix);
    }
    item
}

fn operation(f: Flavor, kind: &str, action: Action, infix: &str) -> Value {
    let (verb, returned, description) = match action {
        Action::List => (
            "list",
            format!("{kind}List"),
            format!("list or watch objects of kind {kind}"),
        ),
        Action::Read => (
            "read",
            kind.to_owned(),
            format!("read the specified {kind}"),
        ),
        Action::Patch => (
            "patch",
            kind.to_owned(),
            format!(
                "partially update the specified {kind} (the simulated cluster's objects are read-only: 405)"
            ),
        ),
    };
    let (op_kind, suffix) = match infix {
        "ForAllNamespaces" => (kind.to_owned(), infix),
        _ => (format!("{infix}{kind}"), ""),
    };
    let mut op = json!({
        "description": description,
        "operationId": format!("{verb}CoreV1{op_kind}{suffix}"),
        "tags": ["core_v1"],
        "responses": responses(f, &core(&returned), matches!(action, Action::Patch)),
        "x-kubernetes-action": match action { Action::List => "list", Action::Read => "get", Action::Patch => "patch" },
        "x-kubernetes-group-version-kind": { "group": "", "kind": kind, "version": "v1" },
    });
    let mut params = query_parameters(f, action);
    if matches!(action, Action::Patch) {
        let body = f.to(&meta("Patch"));
        match f {
            Flavor::V2 => params.insert(
                0,
                json!({ "name": "body", "in": "body", "required": true, "schema": body }),
            ),
            Flavor::V3 => {
                let content: Map<String, Value> = PATCH_TYPES
                    .iter()
                    .map(|t| ((*t).to_owned(), json!({ "schema": body })))
                    .collect();
                op["requestBody"] = json!({ "content": content, "required": true });
            }
        }
    }
    op["parameters"] = json!(params);
    if f == Flavor::V2 {
        if matches!(action, Action::Patch) {
            op["consumes"] = json!(PATCH_TYPES);
        }
        op["produces"] = json!(["application/json"]);
        op["schemes"] = json!(["https"]);
    }
    op
}

fn responses(f: Flavor, schema: &str, read_only: bool) -> Value {
    let ok = match f {
        Flavor::V2 => json!({ "description": "OK", "schema": f.to(schema) }),
        Flavor::V3 => {
            json!({ "description": "OK", "content": { "application/json": { "schema": f.to(schema) } } })
        }
    };
    let mut responses = json!({ "200": ok, "401": { "description": "Unauthorized" } });
    if read_only {
        responses["405"] = json!({ "description": "MethodNotAllowed: the simulated cluster's objects are read-only" });
    }
    responses
}

fn query_parameters(f: Flavor, action: Action) -> Vec<Value> {
    let list: &[(&str, &str, &str)] = &[
        (
            "labelSelector",
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        (
            "fieldSelector",
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        (
            "limit",
            "integer",
            "limit is a maximum number of responses to return for a list call.",
        ),
        (
            "continue",
            "string",
            "The continue option should be set when retrieving more results from the server.",
        ),
        (
            "watch",
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
        ),
        (
            "timeoutSeconds",
            "integer",
            "Timeout for the list/watch call.",
        ),
    ];
    let patch: &[(&str, &str, &str)] = &[
        (
            "dryRun",
            "string",
            "When present, indicates that modifications should not be persisted.",
        ),
        (
            "fieldManager",
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        (
            "fieldValidation",
            "string",
            "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields: Ignore, Warn or Strict.",
        ),
        (
            "force",
            "boolean",
            "Force is going to \"force\" Apply requests.",
        ),
    ];
    let chosen = match action {
        Action::List => list,
        Action::Read => &[],
        Action::Patch => patch,
    };
    chosen
        .iter()
        .map(|(name, kind, description)| f.parameter(name, "query", kind, description))
        .collect()
}
