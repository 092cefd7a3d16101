//! The OpenAPI 3 document, generated from the handlers and types (utoipa), then given the
//! limits the server enforces (`limits`: lengths, item counts, ranges, patterns, the formats
//! of headers and query parameters), taken from the same constants the validation uses.
//! Served at `/openapi.json` and checked in as `openapi.json`; a test fails when the copy is
//! stale, and `scripts/api-conformance.sh` (schemathesis) holds the server to it.

use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::Problem;
use super::{command_status, orders, params};
use crate::domain::payments::MAX_TRANSACTION_AMOUNT;
use crate::domain::validation::{
    MAX_ADDRESS_LINE_LEN, MAX_ADJUSTMENT_AMOUNT, MAX_ADJUSTMENT_LABEL_LEN, MAX_ADJUSTMENTS,
    MAX_CANCEL_REASON_LEN, MAX_CARRIER_LEN, MAX_CITY_LEN, MAX_FULFILLMENT_ID_LEN, MAX_LINE_ITEMS,
    MAX_METADATA_ENTRIES, MAX_METADATA_KEY_LEN, MAX_METADATA_VALUE_LEN, MAX_NAME_LEN,
    MAX_POSTAL_CODE_LEN, MAX_PROVIDER_LEN, MAX_QUANTITY, MAX_RETURN_REASON_LEN,
    MAX_TRACKING_NUMBER_LEN, MAX_TRANSACTION_ID_LEN, MAX_UNIT_PRICE,
};
use crate::domain::{
    AdjustmentKind, Currency, CustomerId, FulfillmentStatus, OrderStatus, PaymentKind,
    PaymentState, PaymentStatus, ReturnStatus, Sku,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orderflow",
        description = "Kafka-first order management. Writes produce a command and answer 202; reads come from the cache, then PostgreSQL; everything is scoped to the caller's storefront.",
        license(name = "Apache-2.0")
    ),
    paths(
        orders::create,
        orders::list,
        orders::get,
        orders::update,
        orders::delete,
        orders::confirm,
        orders::ship,
        orders::update_shipping,
        orders::deliver,
        orders::cancel,
        orders::record_payment,
        orders::settle_payment,
        orders::create_fulfillment,
        orders::ship_fulfillment,
        orders::deliver_fulfillment,
        orders::cancel_fulfillment,
        orders::request_return,
        orders::receive_return,
        orders::cancel_return,
        super::stripe::webhook,
        orders::events,
        command_status::command,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::get,
        super::webhooks::update,
        super::webhooks::delete,
        super::webhooks::rotate_secret,
        super::webhooks::deliveries,
        super::webhooks::retry,
        super::webhooks::replay,
    ),
    components(schemas(Problem, orders::Accepted)),
    tags(
        (name = "orders", description = "The life of an order."),
        (name = "fulfillments", description = "Several shipments per order, and returns (ORDER-MODEL.md \"Fulfillments\", \"Returns\")."),
        (name = "payments", description = "The payment ledger of an order (ORDER-MODEL.md \"Payments\")."),
        (name = "webhooks", description = "Endpoints that receive the storefront's events, signed per Standard Webhooks (headers webhook-id, webhook-timestamp, webhook-signature), at least once and in version order per order. Event types: order.created, order.updated, order.confirmed, order.shipped, order.shipping_updated, order.delivered, order.cancelled, order.deleted, order.payment_recorded, order.payment_settled, order.fulfillment_created, order.fulfillment_shipped, order.fulfillment_delivered, order.fulfillment_cancelled, order.return_requested, order.return_received, order.return_cancelled, order.command_rejected, webhook.endpoint_disabled."),
    ),
    modifiers(&ApiKeyAuth),
    security(("api_key" = []))
)]
pub struct ApiDoc;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `orderflow apikeys create` (also accepted as `X-Api-Key`), \
                         or, where the service is given a JWKS, an RS256 JWT whose storefront claim \
                         names the caller's storefront.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as checked in: pretty JSON with a final newline.
pub fn document() -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    limits(&mut doc);
    let mut json = serde_json::to_string_pretty(&doc).expect("the document serializes");
    json.push('\n');
    json
}

/// No control character (Unicode Cc, as `char::is_control`) anywhere, and at least one
/// character that is neither control nor white space (`char::is_whitespace`): the
/// validation's "not empty, no control characters".
const TEXT_PATTERN: &str = concat!(
    r"^[^\u0000-\u001f\u007f-\u009f]*",
    r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"[^\u0000-\u001f\u007f-\u009f]*$"
);

fn text(max: usize) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": TEXT_PATTERN })
}

/// Merges `patch` into the node at `pointer`; the node must exist, so a renamed field cannot
/// silently lose its limits.
fn merge(doc: &mut Value, pointer: &str, patch: Value) {
    let node = doc
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("the document has no {pointer}"));
    let (Value::Object(node), Value::Object(patch)) = (node, patch) else {
        panic!("{pointer} and its patch must be objects");
    };
    node.extend(patch);
}

/// Replaces the schema of parameter `name` of every operation that has it.
fn parameter(doc: &mut Value, name: &str, schema: &Value) {
    let mut found = false;
    for operation in doc["paths"]
        .as_object_mut()
        .expect("paths")
        .values_mut()
        .flat_map(|item| item.as_object_mut().expect("a path item").values_mut())
    {
        let parameters = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut);
        for p in parameters.into_iter().flatten() {
            if p["name"] == name {
                p["schema"] = schema.clone();
                found = true;
            }
        }
    }
    assert!(found, "no operation has a parameter {name}");
}

fn limits(doc: &mut Value) {
    let schemas = "/components/schemas";
    let address = format!("{schemas}/AddressInput/properties");
    for (field, max) in [
        ("name", MAX_NAME_LEN),
        ("line1", MAX_ADDRESS_LINE_LEN),
        ("city", MAX_CITY_LEN),
        ("postal_code", MAX_POSTAL_CODE_LEN),
    ] {
        merge(doc, &format!("{address}/{field}"), text(max));
    }
    let mut line2 = text(MAX_ADDRESS_LINE_LEN);
    line2["type"] = json!(["string", "null"]);
    merge(doc, &format!("{address}/line2"), line2);
    merge(
        doc,
        &format!("{address}/country"),
        json!({ "enum": crate::domain::validation::country_codes().collect::<Vec<_>>(), "description": "ISO 3166-1 alpha-2" }),
    );

    let item = format!("{schemas}/LineItemInput/properties");
    merge(doc, &format!("{item}/sku"), text(Sku::MAX_LEN));
    merge(
        doc,
        &format!("{item}/quantity"),
        json!({ "minimum": 1, "maximum": MAX_QUANTITY }),
    );
    merge(
        doc,
        &format!("{item}/unit_price"),
        json!({ "minimum": 0, "maximum": MAX_UNIT_PRICE }),
    );
    let items = json!({ "minItems": 1, "maxItems": MAX_LINE_ITEMS });

    let order = format!("{schemas}/NewOrderInput/properties");
    merge(
        doc,
        &format!("{order}/customer_id"),
        text(CustomerId::MAX_LEN),
    );
    let currencies: Vec<&str> = Currency::codes().collect();
    merge(
        doc,
        &format!("{order}/currency"),
        json!({ "enum": currencies }),
    );
    merge(doc, &format!("{order}/items"), items.clone());
    merge(
        doc,
        &format!("{order}/metadata"),
        json!({
            "maxProperties": MAX_METADATA_ENTRIES,
            "propertyNames": text(MAX_METADATA_KEY_LEN),
            "additionalProperties": text(MAX_METADATA_VALUE_LEN),
        }),
    );
    // An adjustment's sign follows its kind: a discount takes money off.
    let adjustment = format!("{schemas}/AdjustmentInput");
    let others: Vec<&str> = AdjustmentKind::ALL
        .iter()
        .filter(|k| **k != AdjustmentKind::Discount)
        .map(|k| k.as_str())
        .collect();
    merge(
        doc,
        &format!("{adjustment}/properties/label"),
        text(MAX_ADJUSTMENT_LABEL_LEN),
    );
    merge(
        doc,
        &adjustment,
        json!({ "anyOf": [
            { "properties": {
                "kind": { "enum": ["discount"] },
                "amount": { "minimum": -MAX_ADJUSTMENT_AMOUNT, "maximum": 0 } } },
            { "properties": {
                "kind": { "enum": others },
                "amount": { "minimum": 0, "maximum": MAX_ADJUSTMENT_AMOUNT } } },
        ] }),
    );
    let adjustments = json!({ "maxItems": MAX_ADJUSTMENTS });
    merge(doc, &format!("{order}/adjustments"), adjustments.clone());

    // The create body is the CreateOrder payload plus `order_id`, in one closed object.
    let mut create = doc
        .pointer(&format!("{schemas}/NewOrderInput"))
        .expect("NewOrderInput")
        .clone();
    create["description"] = json!(
        "`POST /v1/orders` body: a CreateOrder payload and an optional client-chosen order id."
    );
    create["properties"]["order_id"] = json!({
        "type": ["string", "null"],
        "format": "uuid",
        "description": "Optional client-chosen order id; one is generated otherwise (see Tenants in topology.md)."
    });
    doc["components"]["schemas"]["CreateOrderRequest"] = create;

    // An update gives items, an address, adjustments, or several; null is the same as absent.
    let update = format!("{schemas}/OrderUpdateInput");
    merge(doc, &format!("{update}/properties/items"), items);
    merge(
        doc,
        &format!("{update}/properties/adjustments"),
        adjustments,
    );
    merge(
        doc,
        &update,
        json!({ "anyOf": [
            { "required": ["items"], "properties": { "items": { "type": "array" } } },
            { "required": ["shipping_address"], "properties": { "shipping_address": { "type": "object" } } },
            { "required": ["adjustments"], "properties": { "adjustments": { "type": "array" } } },
        ] }),
    );

    let payment = format!("{schemas}/PaymentInput");
    let names = |all: &[&'static str]| json!({ "type": "string", "enum": all });
    let kinds: Vec<&str> = PaymentKind::ALL.iter().map(|k| k.as_str()).collect();
    let states: Vec<&str> = PaymentState::ALL.iter().map(|s| s.as_str()).collect();
    merge(
        doc,
        &format!("{payment}/properties/transaction_id"),
        text(MAX_TRANSACTION_ID_LEN),
    );
    merge(doc, &format!("{payment}/properties/kind"), names(&kinds));
    merge(
        doc,
        &format!("{payment}/properties/amount"),
        json!({ "minimum": 1, "maximum": MAX_TRANSACTION_AMOUNT }),
    );
    merge(doc, &format!("{payment}/properties/status"), names(&states));
    merge(
        doc,
        &format!("{payment}/properties/provider"),
        text(MAX_PROVIDER_LEN),
    );
    for field in ["provider_reference", "parent_id", "return_id"] {
        let mut optional = text(MAX_TRANSACTION_ID_LEN);
        optional["type"] = json!(["string", "null"]);
        merge(doc, &format!("{payment}/properties/{field}"), optional);
    }
    // Only a refund names a return.
    merge(
        doc,
        &payment,
        json!({ "anyOf": [
            { "properties": { "kind": { "enum": ["refund"] } } },
            { "properties": { "return_id": { "type": "null" } } },
        ] }),
    );
    merge(
        doc,
        &format!("{schemas}/SettleBody/properties/status"),
        names(&["succeeded", "failed"]),
    );

    // Fulfillments and returns: ids, lines of units, a reason, conditions.
    let units = format!("{schemas}/UnitsInput/properties");
    merge(doc, &format!("{units}/sku"), text(Sku::MAX_LEN));
    merge(
        doc,
        &format!("{units}/quantity"),
        json!({ "minimum": 1, "maximum": MAX_QUANTITY }),
    );
    let lines = json!({ "minItems": 1, "maxItems": MAX_LINE_ITEMS });
    for (schema, id) in [
        ("FulfillmentInput", "fulfillment_id"),
        ("ReturnInput", "return_id"),
    ] {
        merge(
            doc,
            &format!("{schemas}/{schema}/properties/{id}"),
            text(MAX_FULFILLMENT_ID_LEN),
        );
        merge(
            doc,
            &format!("{schemas}/{schema}/properties/lines"),
            lines.clone(),
        );
    }
    merge(
        doc,
        &format!("{schemas}/ReturnInput/properties/reason"),
        text(MAX_RETURN_REASON_LEN),
    );
    merge(
        doc,
        &format!("{schemas}/ReceiveBody/properties/lines"),
        lines,
    );
    merge(
        doc,
        &format!("{schemas}/ConditionInput/properties/sku"),
        text(Sku::MAX_LEN),
    );
    merge(
        doc,
        &format!("{schemas}/ConditionInput/properties/condition"),
        names(&["resellable", "damaged"]),
    );

    let shipping = format!("{schemas}/ShippingInput/properties");
    merge(doc, &format!("{shipping}/carrier"), text(MAX_CARRIER_LEN));
    merge(
        doc,
        &format!("{shipping}/tracking_number"),
        text(MAX_TRACKING_NUMBER_LEN),
    );
    merge(
        doc,
        &format!("{schemas}/CancelBody/properties/reason"),
        text(MAX_CANCEL_REASON_LEN),
    );

    parameter(
        doc,
        "Idempotency-Key",
        &json!({ "type": "string", "pattern": params::IDEMPOTENCY_KEY_PATTERN }),
    );
    parameter(
        doc,
        "If-Match",
        &json!({ "type": "string", "pattern": params::IF_MATCH_PATTERN }),
    );
    parameter(doc, "traceparent", &json!({ "type": "string" }));
    parameter(
        doc,
        "wait",
        &json!({ "type": "string", "pattern": params::WAIT_PATTERN }),
    );
    parameter(
        doc,
        "limit",
        &json!({ "type": "integer", "minimum": 1, "maximum": orders::MAX_PAGE }),
    );
    parameter(
        doc,
        "cursor",
        &json!({ "type": "string", "pattern": params::CURSOR_PATTERN }),
    );
    parameter(doc, "customer_id", &text(CustomerId::MAX_LEN));
    let listed: Vec<&str> = OrderStatus::ALL
        .iter()
        .filter(|s| **s != OrderStatus::Deleted)
        .map(OrderStatus::as_str)
        .collect();
    parameter(doc, "status", &json!({ "type": "string", "enum": listed }));
    let payment_statuses: Vec<&str> = PaymentStatus::ALL.iter().map(|s| s.as_str()).collect();
    parameter(
        doc,
        "payment_status",
        &json!({ "type": "string", "enum": payment_statuses }),
    );
    parameter(doc, "transaction_id", &text(MAX_TRANSACTION_ID_LEN));
    parameter(doc, "fulfillment_id", &text(MAX_FULFILLMENT_ID_LEN));
    parameter(doc, "return_id", &text(MAX_FULFILLMENT_ID_LEN));
    let fulfillment_statuses: Vec<&str> =
        FulfillmentStatus::ALL.iter().map(|s| s.as_str()).collect();
    parameter(
        doc,
        "fulfillment_status",
        &json!({ "type": "string", "enum": fulfillment_statuses }),
    );
    let return_statuses: Vec<&str> = ReturnStatus::ALL.iter().map(|s| s.as_str()).collect();
    parameter(
        doc,
        "return_status",
        &json!({ "type": "string", "enum": return_statuses }),
    );
    webhook_limits(doc);
}

fn webhook_limits(doc: &mut Value) {
    use crate::webhooks::endpoints::{
        MAX_DESCRIPTION_LEN, MAX_EVENT_TYPES, MAX_URL_LEN, PUBLIC_URL_PATTERN,
    };
    let types: Vec<&str> = crate::webhooks::event_types().collect();
    for schema in ["NewEndpoint", "EndpointPatch"] {
        let properties = format!("/components/schemas/{schema}/properties");
        merge(
            doc,
            &format!("{properties}/url"),
            json!({ "maxLength": MAX_URL_LEN, "pattern": PUBLIC_URL_PATTERN,
                    "description": "http or https on a host name or public address (private, \
                     loopback and link-local ones only with --webhooks-allow-private); no \
                     credentials, no fragment" }),
        );
        merge(
            doc,
            &format!("{properties}/event_types"),
            json!({ "maxItems": MAX_EVENT_TYPES, "uniqueItems": true,
                    "items": { "type": "string", "enum": types } }),
        );
        merge(
            doc,
            &format!("{properties}/description"),
            json!({ "maxLength": MAX_DESCRIPTION_LEN }),
        );
    }
    parameter(
        doc,
        "state",
        &json!({ "type": "string", "enum": ["pending", "delivered", "failed"] }),
    );
}
