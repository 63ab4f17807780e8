//! Random secrets for tests: `fill("sk_live_{a:24}")` writes 24 random letters and
//! digits after the prefix, so every run tries new values.
//!
//! Classes: `a` letters and digits, `l` lowercase, `L` letters, `u`/`U` uppercase and
//! digits, `h` lowercase hex, `H` uppercase hex, `d` digits, `w` URL-safe base64,
//! `b` standard base64 (no padding), `B32` bech32.

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";

fn alphabet(class: &str) -> String {
    match class {
        "a" => format!("{LOWER}{UPPER}{DIGITS}"),
        "l" => LOWER.to_owned(),
        "L" => format!("{LOWER}{UPPER}"),
        "u" | "U" => format!("{UPPER}{DIGITS}"),
        "h" => "0123456789abcdef".to_owned(),
        "H" => "0123456789ABCDEF".to_owned(),
        "d" => DIGITS.to_owned(),
        "w" => format!("{LOWER}{UPPER}{DIGITS}-_"),
        "b" => format!("{LOWER}{UPPER}{DIGITS}+/"),
        "B32" => "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L".to_owned(),
        other => panic!("unknown class {other}"),
    }
}

/// `n` random characters of `class`.
pub(crate) fn random(class: &str, n: usize) -> String {
    let chars: Vec<char> = alphabet(class).chars().collect();
    (0..n)
        .map(|_| chars[fastrand::usize(..chars.len())])
        .collect()
}

/// `template` with every `{class:n}` replaced by random characters.
pub(crate) fn fill(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find('}').expect("a closed placeholder");
        let (class, n) = rest[open + 1..close]
            .split_once(':')
            .expect("a {class:n} placeholder");
        out.push_str(&random(class, n.parse().expect("a length")));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}
