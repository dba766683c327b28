//! Reading Prometheus text exposition (`/metrics`).

/// One sample: metric name, labels as written (`a="b",c="d"`), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: String,
    pub value: f64,
}

/// Parses every sample line (comments and blank lines skipped).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let (series, rest) = match line.find('{') {
                Some(open) => {
                    let close = line.rfind('}')?;
                    ((&line[..open], &line[open + 1..close]), &line[close + 1..])
                }
                None => {
                    let (name, rest) = line.split_once(' ')?;
                    ((name, ""), rest)
                }
            };
            let value = rest.split_whitespace().next()?.parse().ok()?;
            Some(Sample {
                name: series.0.to_string(),
                labels: series.1.to_string(),
                value,
            })
        })
        .collect()
}

/// Sum of the samples named `name` whose labels contain every one of `label_parts`.
pub fn sum(text: &str, name: &str, label_parts: &[&str]) -> f64 {
    parse(text)
        .into_iter()
        .filter(|s| s.name == name && label_parts.iter().all(|p| s.labels.contains(p)))
        .map(|s| s.value)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labelled_and_bare_samples() {
        let text = "# HELP x y\nhttp_requests_total{route=\"/v1/me\",status=\"200\"} 3\n\
                    http_requests_total{route=\"/v1/x\",status=\"404\"} 2\nup 1 1700000000\n";
        assert_eq!(sum(text, "http_requests_total", &[]), 5.0);
        assert_eq!(sum(text, "http_requests_total", &["status=\"404\""]), 2.0);
        assert_eq!(sum(text, "up", &[]), 1.0);
    }
}
