//! The namespace policy parser: any text either parses into a policy or is refused
//! with an error; a policy then maps any namespace without panicking.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use shared::entity::Namespace;
use shared::policy::{Environment, Policy};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The last line doubles as a namespace to map, so mappings are explored too.
    let last = text.lines().last().unwrap_or("checkout-prod");
    match Policy::parse(text, "fuzz") {
        Ok(policy) => {
            let labels: BTreeMap<String, String> = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            // Only a valid name reaches the mapper; an invalid one is refused first.
            if let Ok(namespace) = Namespace::parse(last) {
                let _ = policy.resolve(&namespace, None);
                let _ = policy.resolve(&namespace, Some(&labels));
            }
            let _ = policy.environment_named(last);
            for env in Environment::ALL {
                let _ = policy.rules(env);
            }
        }
        Err(e) => {
            // The error renders (it names the origin and position).
            assert!(e.to_string().contains("fuzz"));
        }
    }
});
