//! Reading values out of the sidecar's Prometheus text: a selector names the metric and the labels
//! that must be present (`name{a="1",b="2"}` or `name `), so the test does not depend on the order
//! in which labels are printed or on labels it does not name (every metric also carries `schema`).

/// The sidecar's `/metrics` text on `port` (empty while it is not serving).
pub async fn metrics(port: u16) -> String {
    match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The value of the first sample that matches `selector` (`name`, `name ` or `name{label="v",...}`).
pub fn metric(text: &str, selector: &str) -> Option<f64> {
    let (name, wanted) = parse_sample(selector.trim_end())?;
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (sample, value) = line.rsplit_once(' ')?;
            let (sample_name, labels) = parse_sample(sample)?;
            (sample_name == name && wanted.iter().all(|pair| labels.contains(pair)))
                .then(|| value.parse().ok())
                .flatten()
        })
        .next()
}

/// `name{a="1",b="2"}` → (`name`, [(a, 1), (b, 2)]). Label values here never hold `,` or `"`.
fn parse_sample(sample: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let Some((name, rest)) = sample.split_once('{') else {
        return Some((sample, Vec::new()));
    };
    let labels = rest.strip_suffix('}')?;
    let pairs = labels
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (label, value) = pair.split_once('=')?;
            Some((label, value.trim_matches('"')))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((name, pairs))
}

#[cfg(test)]
mod tests {
    use super::metric;

    const TEXT: &str = "# TYPE sfsync_writer_paused gauge\n\
        sfsync_writer_paused{schema=\"org2\"} 1\n\
        sfsync_writer_records_total{object=\"Contact\",outcome=\"success\",schema=\"org2\"} 31\n\
        sfsync_writer_records_total{object=\"Account\",outcome=\"success\",schema=\"org2\"} 7\n";

    #[test]
    fn selectors_match_named_labels_in_any_order() {
        assert_eq!(metric(TEXT, "sfsync_writer_paused "), Some(1.0));
        assert_eq!(
            metric(
                TEXT,
                "sfsync_writer_records_total{outcome=\"success\",object=\"Account\"}"
            ),
            Some(7.0)
        );
        assert_eq!(
            metric(TEXT, "sfsync_writer_paused{schema=\"salesforce\"}"),
            None
        );
        assert_eq!(metric(TEXT, "sfsync_writer_missing "), None);
    }
}
