//! Figures: one number with its label, and how numbers are written for people.

use leptos::prelude::*;

/// One big number with a label under it; `test_id` names it for browser tests.
#[component]
pub(crate) fn Figure(
    label: &'static str,
    test_id: &'static str,
    #[prop(into)] value: Signal<String>,
) -> impl IntoView {
    view! {
        <div class="figure">
            <div class="figure-value" data-test=test_id>{value}</div>
            <div class="figure-label">{label}</div>
        </div>
    }
}

/// 1234567 → "1,234,567".
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (idx, ch) in digits.chars().enumerate() {
        if idx > 0 && (digits.len() - idx).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Events per second with sensible precision: "0.4", "12.3", "1,234".
pub(crate) fn rate(x: f64) -> String {
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        count(x.round() as u64)
    }
}

/// A fraction as a percentage: 0.0123 → "1.23%".
pub(crate) fn percent(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

/// A count in three figures at most: 950 → "950", 193234 → "193K", 5836659 → "5.8M".
pub(crate) fn compact(n: f64) -> String {
    let (value, unit) = match n.abs() {
        x if x >= 1e9 => (n / 1e9, "G"),
        x if x >= 1e6 => (n / 1e6, "M"),
        x if x >= 1e3 => (n / 1e3, "K"),
        _ => return format!("{n:.0}"),
    };
    if value.abs() < 10.0 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.0}{unit}")
    }
}

/// 1536 → "1.5 KiB".
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(rate(12.34), "12.3");
        assert_eq!(rate(1234.4), "1,234");
        assert_eq!(percent(0.0123), "1.23%");
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(193_234.0), "193K");
        assert_eq!(compact(5_836_659.0), "5.8M");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
