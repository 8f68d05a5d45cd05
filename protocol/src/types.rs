//! The Salesforce → Postgres type map (README, *Concepts*).

/// The Postgres type of a column for a Salesforce field of type `sf_type` with the describe's
/// `length`, `precision` and `scale` (0 when the describe has none); `None` for types sfsync
/// refuses to map. Compound fields (`address`, `location`) are mapped through their components.
pub fn sql_type(sf_type: &str, length: i64, precision: i64, scale: i64) -> Option<String> {
    Some(match sf_type {
        "string" | "picklist" | "email" | "phone" | "url" | "combobox" | "encryptedstring" => {
            format!("varchar({})", if length > 0 { length } else { 255 })
        }
        "textarea" if length <= 255 => "varchar(255)".to_string(),
        "textarea" => "text".to_string(),
        "multipicklist" => "varchar(4099)".to_string(),
        "boolean" => "boolean".to_string(),
        "int" => "integer".to_string(),
        "double" | "currency" | "percent" if precision > 0 => {
            format!("numeric({precision},{scale})")
        }
        "double" | "currency" | "percent" => "numeric".to_string(),
        "date" => "date".to_string(),
        "datetime" => "timestamp".to_string(),
        "time" => "time".to_string(),
        "id" | "reference" => "varchar(18)".to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::sql_type;

    #[test]
    fn the_type_map() {
        let table: &[(&str, i64, i64, i64, Option<&str>)] = &[
            ("string", 80, 0, 0, Some("varchar(80)")),
            ("string", 0, 0, 0, Some("varchar(255)")),
            ("picklist", 40, 0, 0, Some("varchar(40)")),
            ("email", 80, 0, 0, Some("varchar(80)")),
            ("phone", 40, 0, 0, Some("varchar(40)")),
            ("url", 255, 0, 0, Some("varchar(255)")),
            ("combobox", 10, 0, 0, Some("varchar(10)")),
            ("encryptedstring", 175, 0, 0, Some("varchar(175)")),
            ("textarea", 255, 0, 0, Some("varchar(255)")),
            ("textarea", 32000, 0, 0, Some("text")),
            ("multipicklist", 4099, 0, 0, Some("varchar(4099)")),
            ("boolean", 0, 0, 0, Some("boolean")),
            ("int", 0, 9, 0, Some("integer")),
            ("double", 0, 18, 2, Some("numeric(18,2)")),
            ("currency", 0, 18, 0, Some("numeric(18,0)")),
            ("percent", 0, 0, 0, Some("numeric")),
            ("date", 0, 0, 0, Some("date")),
            ("datetime", 0, 0, 0, Some("timestamp")),
            ("time", 0, 0, 0, Some("time")),
            ("id", 18, 0, 0, Some("varchar(18)")),
            ("reference", 18, 0, 0, Some("varchar(18)")),
            ("base64", 0, 0, 0, None),
            ("address", 0, 0, 0, None),
            ("anyType", 0, 0, 0, None),
        ];
        for &(sf_type, length, precision, scale, expected) in table {
            assert_eq!(
                sql_type(sf_type, length, precision, scale).as_deref(),
                expected,
                "{sf_type} length {length} precision {precision} scale {scale}"
            );
        }
    }
}
