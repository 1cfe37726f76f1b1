use super::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn masked_name_compare_equals_string_compare(
        dev in "[ab0-]{0,18}",
        pat in "[ab0-]{0,18}\\+?",
    ) {
        let fast = IfPat::new(&pat).matches(name_bits(&dev), &dev);
        prop_assert_eq!(fast, iface_matches(&pat, &dev), "{} vs {}", pat, dev);
    }
}

#[test]
fn name_patterns() {
    let m = |p: &str, d: &str| IfPat::new(p).matches(name_bits(d), d);
    assert!(m("tap11111111-22", "tap11111111-22"));
    assert!(!m("tap11111111-2", "tap11111111-22"));
    assert!(m("tap+", "tap11111111-22"));
    assert!(m("+", ""));
    assert!(!m("eth0", ""));
}
