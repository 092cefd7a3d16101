//! Parse-don't-validate: raw command payloads become typed values or a list of field errors.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::input::{AddressInput, LineItemInput, NewOrderInput, OrderUpdateInput, ShippingInput};
use super::values::{
    Address, Adjustment, Amount, Currency, CustomerId, LineItem, ShippingInfo, Sku, bounded_echo,
    bounded_text,
};

mod adjustments;
mod fulfillments;
mod payments;
pub use adjustments::order_total;
use adjustments::parse_adjustments;
pub use fulfillments::{
    MAX_FULFILLMENT_ID_LEN, MAX_RETURN_REASON_LEN, parse_fact_id, parse_fulfillment, parse_receipt,
    parse_return,
};
pub use payments::{MAX_PROVIDER_LEN, MAX_TRANSACTION_ID_LEN, parse_payment, parse_settlement};

pub const MAX_LINE_ITEMS: usize = 500;
pub const MAX_QUANTITY: i64 = 10_000;
/// Largest unit price, in minor units: bounded so that no line total or subtotal of a valid
/// order can overflow (500 × 10 000 × 10¹² < 2⁶³), and exact in an IEEE double (< 2⁵³).
pub const MAX_UNIT_PRICE: i64 = 1_000_000_000_000;
pub const MAX_METADATA_ENTRIES: usize = 32;
pub const MAX_METADATA_KEY_LEN: usize = 64;
pub const MAX_METADATA_VALUE_LEN: usize = 512;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_ADDRESS_LINE_LEN: usize = 200;
pub const MAX_CITY_LEN: usize = 100;
pub const MAX_POSTAL_CODE_LEN: usize = 20;
pub const MAX_CARRIER_LEN: usize = 64;
pub const MAX_TRACKING_NUMBER_LEN: usize = 64;
pub const MAX_CANCEL_REASON_LEN: usize = 500;
pub const MAX_ADJUSTMENTS: usize = 50;
pub const MAX_ADJUSTMENT_LABEL_LEN: usize = 100;
/// Largest size of one adjustment, in minor units: 50 of them and the largest subtotal stay
/// far below 2⁶³; the sums are checked all the same.
pub const MAX_ADJUSTMENT_AMOUNT: i64 = 1_000_000_000_000_000;

/// The reason recorded for a computed amount that does not fit in an i64.
const OVERFLOW: &str = "amount exceeds the largest representable total";

/// One rule broken by one field, e.g. `items[0].quantity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

/// Every rule a payload broke, in field order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
    }

    /// Keeps `result`'s value, or records its error under `field`.
    fn check<T>(&mut self, field: impl Into<String>, result: Result<T, String>) -> Option<T> {
        result.map_err(|reason| self.push(field, reason)).ok()
    }
}

impl ValidationErrors {
    /// The first field whose computed amount overflowed, if any.
    pub fn overflow_field(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.reason == OVERFLOW)
            .map(|e| e.field.as_str())
    }

    /// Ok when nothing was recorded.
    fn into_result<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ValidationErrors> {
        match value() {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(self),
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.reason)?;
        }
        Ok(())
    }
}

/// A CreateOrder payload that keeps every rule; totals computed by us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub items: Vec<LineItem>,
    pub subtotal: Amount,
    pub adjustments: Vec<Adjustment>,
    /// `subtotal + Σ adjustments`.
    pub total: Amount,
    pub shipping_address: Address,
    pub metadata: BTreeMap<String, String>,
}

impl NewOrder {
    pub fn parse(input: &NewOrderInput) -> Result<NewOrder, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let customer_id = errors.check("customer_id", CustomerId::parse(&input.customer_id));
        let currency = errors.check("currency", Currency::parse(&input.currency));
        let lines = parse_lines(&input.items, &mut errors);
        let shipping_address =
            parse_address(&input.shipping_address, "shipping_address", &mut errors);
        let metadata = parse_metadata(&input.metadata, &mut errors);
        let adjustments = parse_adjustments(&input.adjustments, &mut errors);
        let total = match (&lines, &adjustments) {
            (Some((_, subtotal)), Some(adjustments)) => match order_total(*subtotal, adjustments) {
                Ok(total) => Some(total),
                Err(e) => {
                    errors.0.extend(e.0);
                    None
                }
            },
            _ => None,
        };
        errors.into_result(|| {
            let (items, subtotal) = lines?;
            Some(NewOrder {
                customer_id: customer_id?,
                currency: currency?,
                items,
                subtotal,
                adjustments: adjustments?,
                total: total?,
                shipping_address: shipping_address?,
                metadata: metadata?,
            })
        })
    }
}

/// A valid UpdateOrder payload; replaced items come with their new subtotal. The new total
/// needs the order (kept items or adjustments): see [`order_total`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderUpdate {
    pub items: Option<(Vec<LineItem>, Amount)>,
    pub shipping_address: Option<Address>,
    pub adjustments: Option<Vec<Adjustment>>,
}

impl OrderUpdate {
    pub fn parse(input: &OrderUpdateInput) -> Result<OrderUpdate, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if input.items.is_none() && input.shipping_address.is_none() && input.adjustments.is_none()
        {
            errors.push(
                "items",
                "give items, shipping_address, adjustments or several",
            );
        }
        let items = input
            .items
            .as_ref()
            .map(|items| parse_lines(items, &mut errors));
        let address = input
            .shipping_address
            .as_ref()
            .map(|a| parse_address(a, "shipping_address", &mut errors));
        let adjustments = input
            .adjustments
            .as_ref()
            .map(|a| parse_adjustments(a, &mut errors));
        errors.into_result(|| {
            Some(OrderUpdate {
                items: items.map(|i| i.ok_or(())).transpose().ok()?,
                shipping_address: address.map(|a| a.ok_or(())).transpose().ok()?,
                adjustments: adjustments.map(|a| a.ok_or(())).transpose().ok()?,
            })
        })
    }
}

impl ShippingInfo {
    pub fn parse(input: &ShippingInput) -> Result<ShippingInfo, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let carrier = errors.check(
            "carrier",
            bounded_text(input.carrier.clone(), MAX_CARRIER_LEN),
        );
        let tracking_number = errors.check(
            "tracking_number",
            bounded_text(input.tracking_number.clone(), MAX_TRACKING_NUMBER_LEN),
        );
        errors.into_result(|| {
            Some(ShippingInfo {
                carrier: carrier?,
                tracking_number: tracking_number?,
            })
        })
    }
}

/// Longest `issued_by` (who or what issued a command), in characters.
pub const ISSUED_BY_MAX: usize = 200;

/// A command's `issued_by`, if any: bounded text like every other text a command carries.
pub fn parse_issued_by(issued_by: Option<&str>) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if let Some(value) = issued_by {
        errors.check("issued_by", bounded_text(value.to_owned(), ISSUED_BY_MAX));
    }
    errors.into_result(|| Some(()))
}

/// Why an order was cancelled: 1 to 500 characters.
pub fn parse_cancel_reason(reason: &str) -> Result<String, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let reason = errors.check(
        "reason",
        bounded_text(reason.to_owned(), MAX_CANCEL_REASON_LEN),
    );
    errors.into_result(|| reason)
}

fn overflow() -> String {
    OVERFLOW.to_owned()
}

/// Line items and their subtotal, computed with checked arithmetic.
fn parse_lines(
    input: &[LineItemInput],
    errors: &mut ValidationErrors,
) -> Option<(Vec<LineItem>, Amount)> {
    let items = parse_items(input, errors)?;
    let sum = items
        .iter()
        .try_fold(0i64, |acc, item| acc.checked_add(item.line_total.0));
    let subtotal = errors.check("items", sum.map(Amount).ok_or_else(overflow))?;
    Some((items, subtotal))
}

fn parse_items(input: &[LineItemInput], errors: &mut ValidationErrors) -> Option<Vec<LineItem>> {
    if input.is_empty() || input.len() > MAX_LINE_ITEMS {
        errors.push(
            "items",
            format!("must hold 1 to {MAX_LINE_ITEMS} line items"),
        );
        return None;
    }
    let before = errors.0.len();
    let items: Vec<LineItem> = input
        .iter()
        .enumerate()
        .filter_map(|(i, item)| parse_item(item, &format!("items[{i}]"), errors))
        .collect();
    (errors.0.len() == before).then_some(items)
}

fn parse_item(
    input: &LineItemInput,
    path: &str,
    errors: &mut ValidationErrors,
) -> Option<LineItem> {
    let sku = errors.check(format!("{path}.sku"), Sku::parse(&input.sku));
    let quantity = errors.check(
        format!("{path}.quantity"),
        u32::try_from(input.quantity)
            .ok()
            .filter(|q| (1..=MAX_QUANTITY).contains(&i64::from(*q)))
            .ok_or_else(|| format!("must be between 1 and {MAX_QUANTITY}")),
    );
    let unit_price = errors.check(
        format!("{path}.unit_price"),
        (0..=MAX_UNIT_PRICE)
            .contains(&input.unit_price)
            .then_some(Amount(input.unit_price))
            .ok_or_else(|| format!("must be between 0 and {MAX_UNIT_PRICE}")),
    );
    let (sku, quantity, unit_price) = (sku?, quantity?, unit_price?);
    let line_total = errors.check(
        format!("{path}.unit_price"),
        unit_price
            .0
            .checked_mul(i64::from(quantity))
            .map(Amount)
            .ok_or_else(overflow),
    )?;
    Some(LineItem {
        sku,
        quantity,
        unit_price,
        line_total,
    })
}

fn parse_address(
    input: &AddressInput,
    path: &str,
    errors: &mut ValidationErrors,
) -> Option<Address> {
    let mut text = |field: &str, value: &str, max: usize| {
        errors.check(
            format!("{path}.{field}"),
            bounded_text(value.to_owned(), max),
        )
    };
    let name = text("name", &input.name, MAX_NAME_LEN);
    let line1 = text("line1", &input.line1, MAX_ADDRESS_LINE_LEN);
    let line2 = match &input.line2 {
        Some(line2) => Some(text("line2", line2, MAX_ADDRESS_LINE_LEN)),
        None => Some(None),
    };
    let city = text("city", &input.city, MAX_CITY_LEN);
    let postal_code = text("postal_code", &input.postal_code, MAX_POSTAL_CODE_LEN);
    let country = errors.check(format!("{path}.country"), country_code(&input.country));
    Some(Address {
        name: name?,
        line1: line1?,
        line2: line2?,
        city: city?,
        postal_code: postal_code?,
        country: country?,
    })
}

fn country_code(code: &str) -> Result<String, String> {
    // Upper case as the codes are listed; the lookup itself ignores case.
    if code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && celes::Country::from_alpha2(code).is_ok()
    {
        Ok(code.to_owned())
    } else {
        Err("must be an ISO 3166-1 alpha-2 code such as \"DE\"".to_owned())
    }
}

/// Every country code an address may name: ISO 3166-1 alpha-2, upper case (from `celes`).
pub fn country_codes() -> impl Iterator<Item = &'static str> {
    celes::Country::get_countries()
        .into_iter()
        .map(|country| country.alpha2)
}

fn parse_metadata(
    input: &BTreeMap<String, String>,
    errors: &mut ValidationErrors,
) -> Option<BTreeMap<String, String>> {
    if input.len() > MAX_METADATA_ENTRIES {
        errors.push(
            "metadata",
            format!("must hold at most {MAX_METADATA_ENTRIES} entries"),
        );
        return None;
    }
    let before = errors.0.len();
    for (key, value) in input {
        errors.check("metadata", bounded_text(key.clone(), MAX_METADATA_KEY_LEN));
        errors.check(
            format!("metadata.{}", bounded_echo(key, MAX_METADATA_KEY_LEN)),
            bounded_text(value.clone(), MAX_METADATA_VALUE_LEN),
        );
    }
    (errors.0.len() == before).then(|| input.clone())
}
