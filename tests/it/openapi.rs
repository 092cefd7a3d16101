//! The OpenAPI document is generated from the code; the checked-in copy must match it.

use crate::common;

#[test]
fn the_checked_in_openapi_document_is_current() {
    let generated = orderflow::ingress::openapi::document();
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    assert!(
        generated == checked_in,
        "openapi.json is stale: regenerate it with `cargo run -- openapi > openapi.json`"
    );
}

#[test]
fn the_document_describes_every_route_with_its_problems() {
    let doc: serde_json::Value =
        serde_json::from_str(&orderflow::ingress::openapi::document()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/v1/orders", vec!["get", "post"]),
        ("/v1/orders/{id}", vec!["get", "patch", "delete"]),
        ("/v1/orders/{id}/confirm", vec!["post"]),
        ("/v1/orders/{id}/ship", vec!["post"]),
        ("/v1/orders/{id}/shipping", vec!["put"]),
        ("/v1/orders/{id}/deliver", vec!["post"]),
        ("/v1/orders/{id}/cancel", vec!["post"]),
        ("/v1/orders/{id}/events", vec!["get"]),
        ("/v1/orders/{id}/payments", vec!["post"]),
        (
            "/v1/orders/{id}/payments/{transaction_id}/settle",
            vec!["post"],
        ),
        ("/v1/commands/{id}", vec!["get"]),
    ] {
        for method in methods {
            let operation = &paths[path][method];
            assert!(operation.is_object(), "{method} {path} is documented");
            assert!(
                operation["responses"]["401"].is_object(),
                "{method} {path} documents 401"
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    let order = &doc["components"]["schemas"]["Order"]["properties"];
    for field in [
        "order_id",
        "storefront_id",
        "status",
        "items",
        "total",
        "version",
        "shipping_address",
        "adjustments",
        "payments",
        "balance_due",
        "payment_status",
        "fulfillments",
        "returns",
        "fulfillment_status",
        "return_status",
    ] {
        assert!(order[field].is_object(), "Order.{field} is documented");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_serves_the_same_document() {
    let app = common::spawn_app().await;
    let served = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, orderflow::ingress::openapi::document());
    app.stop().await;
}

#[test]
fn every_reference_in_the_document_resolves() {
    fn refs<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                    out.push(target);
                }
                map.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc: serde_json::Value =
        serde_json::from_str(&orderflow::ingress::openapi::document()).unwrap();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
}
