//! Unit tests of the domain, and fixtures other modules' tests build on.

use chrono::{TimeZone, Utc};

use super::*;

pub(crate) fn sample_input() -> NewOrderInput {
    NewOrderInput {
        customer_id: "c-42".into(),
        currency: "EUR".into(),
        items: vec![LineItemInput {
            sku: "SKU-1".into(),
            quantity: 2,
            unit_price: 1999,
        }],
        shipping_address: AddressInput {
            name: "Ada Lovelace".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "Berlin".into(),
            postal_code: "10115".into(),
            country: "DE".into(),
        },
        metadata: [("channel".to_owned(), "web".to_owned())].into(),
    }
}

pub(crate) fn create_command(input: NewOrderInput) -> Command {
    Command {
        command_id: CommandId::new_random(),
        order_id: OrderId::new_random(),
        storefront_id: StorefrontId::default_storefront(),
        expected_version: None,
        issued_at: Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap(),
        issued_by: None,
        body: CommandBody::CreateOrder(input),
    }
}
