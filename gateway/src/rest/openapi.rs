//! The REST API's routes and its OpenAPI document, built together from one
//! list of endpoints (`routes::api`): every route is documented, and every
//! documented body schema is derived (schemars) from the type its handler
//! parses. Served at `/openapi.json`.

use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::service::Gateway;

/// What an endpoint takes as its body.
pub enum Body {
    None,
    /// JSON parsed as this type.
    Json(fn(&mut SchemaGenerator) -> Schema),
    /// A multipart upload whose `snapshot` field is the file.
    Snapshot,
}

/// A JSON body parsed as `B`.
pub fn json<B: JsonSchema>() -> Body {
    Body::Json(|generator| generator.subschema_for::<B>())
}

/// The query parameters endpoints read, each with one meaning everywhere.
#[derive(Clone, Copy)]
pub enum Param {
    Wait,
    Ordering,
    Consistency,
    Timeout,
    Force,
    Priority,
    Checksum,
    DetailsLevel,
    Anonymize,
    With,
    CompletedLimit,
}

/// A write on points: `?wait=` and `?ordering=`.
pub const WRITE: &[Param] = &[Param::Wait, Param::Ordering];
/// A read of points: `?consistency=` and `?timeout=`.
pub const READ: &[Param] = &[Param::Consistency, Param::Timeout];
/// A change that can wait for its outcome.
pub const WAIT: &[Param] = &[Param::Wait];
/// A snapshot upload.
pub const UPLOAD: &[Param] = &[Param::Wait, Param::Priority, Param::Checksum];

impl Param {
    fn document(self) -> Value {
        let (name, description, schema) = match self {
            Param::Wait => (
                "wait",
                "Answer once the change is applied",
                json!({ "type": "boolean" }),
            ),
            Param::Ordering => (
                "ordering",
                "How the write is ordered among replicas",
                json!({ "type": "string", "enum": ["weak", "medium", "strong"] }),
            ),
            Param::Consistency => (
                "consistency",
                "How many replicas of each shard must answer: a number, or majority, quorum, all",
                json!({ "anyOf": [
                    { "type": "integer", "minimum": 1 },
                    { "type": "string", "enum": ["majority", "quorum", "all"] }
                ] }),
            ),
            Param::Timeout => (
                "timeout",
                "Seconds to wait at most",
                json!({ "type": "integer", "minimum": 1 }),
            ),
            Param::Force => (
                "force",
                "Remove the peer even though it holds shards",
                json!({ "type": "boolean" }),
            ),
            Param::Priority => (
                "priority",
                "Which data wins when recovering",
                json!({ "type": "string", "enum": ["no_sync", "snapshot", "replica"] }),
            ),
            Param::Checksum => (
                "checksum",
                "The snapshot's SHA-256, checked before it is used",
                json!({ "type": "string" }),
            ),
            Param::DetailsLevel => (
                "details_level",
                "How much to report: 0 is the least",
                json!({ "type": "integer", "minimum": 0 }),
            ),
            Param::Anonymize => (
                "anonymize",
                "Hide collection names",
                json!({ "type": "boolean" }),
            ),
            Param::With => (
                "with",
                "Lists to include, comma-separated: queued, completed, idle_segments",
                json!({ "type": "string" }),
            ),
            Param::CompletedLimit => (
                "completed_limit",
                "How many completed optimizations to list at most",
                json!({ "type": "integer", "minimum": 0 }),
            ),
        };
        json!({
            "name": name,
            "in": "query",
            "required": false,
            "description": description,
            "schema": schema,
        })
    }
}

/// The router and the document, growing together.
pub struct Api {
    router: Router<Gateway>,
    paths: Map<String, Value>,
    generator: SchemaGenerator,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            router: Router::new(),
            paths: Map::new(),
            generator: SchemaSettings::openapi3().into_generator(),
        }
    }
}

impl Api {
    /// Serves `method path` with `handler`, and documents it.
    pub fn endpoint<H, T>(
        mut self,
        method: MethodFilter,
        path: &str,
        handler: H,
        body: Body,
        params: &[Param],
    ) -> Self
    where
        H: Handler<T, Gateway>,
        T: 'static,
    {
        self.router = self.router.route(path, on(method, handler));
        let operation = self.operation(path, body, params);
        self.paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a path item is an object")
            .insert(method_name(method).into(), operation);
        self
    }

    pub fn get<H: Handler<T, Gateway>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.endpoint(MethodFilter::GET, path, handler, Body::None, &[])
    }

    fn operation(&mut self, path: &str, body: Body, params: &[Param]) -> Value {
        let mut parameters: Vec<Value> = path_params(path)
            .map(|name| {
                json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "schema": path_param_schema(name),
                })
            })
            .collect();
        parameters.extend(params.iter().map(|p| p.document()));
        let mut operation = json!({
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "Done; `result` holds the answer",
                    "content": { "application/json": { "schema": { "type": "object" } } },
                },
                "default": {
                    "description": "Refused; `status.error` says why",
                    "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/ErrorResponse" }
                    } },
                },
            },
        });
        let content = match body {
            Body::None => None,
            Body::Json(schema) => Some(json!({
                "application/json": { "schema": schema(&mut self.generator) }
            })),
            Body::Snapshot => Some(json!({
                "multipart/form-data": { "schema": {
                    "type": "object",
                    "required": ["snapshot"],
                    "properties": { "snapshot": { "type": "string", "format": "binary" } },
                } }
            })),
        };
        if let Some(content) = content {
            operation["requestBody"] = json!({ "required": true, "content": content });
        }
        operation
    }

    /// The router, and the document of everything it serves.
    pub fn finish(mut self) -> (Router<Gateway>, Value) {
        let mut schemas = Map::new();
        for (name, schema) in self.generator.take_definitions(true) {
            schemas.insert(name, schema);
        }
        schemas.insert(
            "ErrorResponse".into(),
            json!({
                "type": "object",
                "required": ["status", "time"],
                "properties": {
                    "status": {
                        "type": "object",
                        "required": ["error"],
                        "properties": { "error": { "type": "string" } },
                    },
                    "time": { "type": "number" },
                },
            }),
        );
        let document = json!({
            "openapi": "3.0.3",
            "info": {
                "title": "Tessera",
                "description": "Tessera's REST API: Qdrant's dialect, served by a gateway",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "paths": self.paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "api-key": { "type": "apiKey", "in": "header", "name": "api-key" },
                },
            },
            // Keys are optional: a gateway without `service.api_key` asks for none.
            "security": [{}, { "api-key": [] }],
        });
        (self.router, document)
    }
}

fn method_name(method: MethodFilter) -> &'static str {
    [
        (MethodFilter::GET, "get"),
        (MethodFilter::PUT, "put"),
        (MethodFilter::POST, "post"),
        (MethodFilter::PATCH, "patch"),
        (MethodFilter::DELETE, "delete"),
    ]
    .into_iter()
    .find(|(filter, _)| *filter == method)
    .map(|(_, name)| name)
    .expect("endpoints use GET, PUT, POST, PATCH or DELETE")
}

/// The `{name}`s of a route.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

fn path_param_schema(name: &str) -> Value {
    match name {
        "peer_id" | "node_id" | "shard_id" => json!({ "type": "integer", "minimum": 0 }),
        "id" => json!({ "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "format": "uuid" }
        ] }),
        _ => json!({ "type": "string" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_read_off_the_route() {
        let names: Vec<_> =
            path_params("/collections/{name}/shards/{shard_id}/snapshots").collect();
        assert_eq!(names, ["name", "shard_id"]);
    }
}
