//! Kubernetes label selectors (`app=web,tier in (api,worker),!canary`), parsed so that
//! the log source can filter by the same pod labels the cluster source selects on.

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value`.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    NotExists(String),
}

/// Parses a selector; the error says which part was not understood.
pub fn parse(selector: &str) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    for part in split_top_level(selector) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        out.push(parse_one(part).ok_or_else(|| format!("cannot parse {part:?}"))?);
    }
    if out.is_empty() {
        return Err("the selector is empty".into());
    }
    Ok(out)
}

/// Whether `labels` satisfy every requirement, as the API server decides it.
pub fn matches(
    requirements: &[Requirement],
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    requirements.iter().all(|r| match r {
        Requirement::Equals(k, v) => labels.get(k) == Some(v),
        Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
        Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
        Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
        Requirement::Exists(k) => labels.contains_key(k),
        Requirement::NotExists(k) => !labels.contains_key(k),
    })
}

fn split_top_level(selector: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&selector[start..]);
    parts
}

fn parse_one(part: &str) -> Option<Requirement> {
    if let Some(key) = part.strip_prefix('!') {
        return valid(key.trim()).then(|| Requirement::NotExists(key.trim().to_owned()));
    }
    if let Some((key, value)) = part.split_once("!=") {
        return pair(key, value).map(|(k, v)| Requirement::NotEquals(k, v));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return pair(key, value).map(|(k, v)| Requirement::Equals(k, v));
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next()?.trim();
    let rest = words.next().map(str::trim).unwrap_or_default();
    if rest.is_empty() {
        return valid(key).then(|| Requirement::Exists(key.to_owned()));
    }
    let (op, list) = rest.split_once('(')?;
    let list = list.strip_suffix(')')?;
    let values: Vec<String> = list.split(',').map(|v| v.trim().to_owned()).collect();
    if !valid(key) || values.iter().any(|v| !valid_value(v)) {
        return None;
    }
    match op.trim() {
        "in" => Some(Requirement::In(key.to_owned(), values)),
        "notin" => Some(Requirement::NotIn(key.to_owned(), values)),
        _ => None,
    }
}

fn pair(key: &str, value: &str) -> Option<(String, String)> {
    let (key, value) = (key.trim(), value.trim());
    (valid(key) && valid_value(value)).then(|| (key.to_owned(), value.to_owned()))
}

fn valid(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use Requirement::*;

    #[test]
    fn parses_every_operator() {
        let got = parse("app.kubernetes.io/name=web, tier in (api, worker),env!=dev,canary,!legacy,x==y,z notin (a)")
            .unwrap();
        assert_eq!(
            got,
            vec![
                Equals("app.kubernetes.io/name".into(), "web".into()),
                In("tier".into(), vec!["api".into(), "worker".into()]),
                NotEquals("env".into(), "dev".into()),
                Exists("canary".into()),
                NotExists("legacy".into()),
                Equals("x".into(), "y".into()),
                NotIn("z".into(), vec!["a".into()]),
            ]
        );
    }

    #[test]
    fn matching_follows_the_api_servers_rules() {
        let labels: std::collections::BTreeMap<String, String> = [("app", "web"), ("tier", "api")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert!(matches(
            &parse("app=web,tier in (api,worker),!canary").unwrap(),
            &labels
        ));
        assert!(matches(
            &parse("env!=dev,env notin (dev)").unwrap(),
            &labels
        ));
        assert!(!matches(&parse("app=web,canary").unwrap(), &labels));
        assert!(!matches(&parse("tier notin (api)").unwrap(), &labels));
    }

    #[test]
    fn refuses_what_kubernetes_would_refuse() {
        for bad in [
            "",
            "a=b\"c",
            "tier within (a)",
            "a in (b",
            "=x",
            "a=\"x\" or 1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
