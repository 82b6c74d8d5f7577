//! The command line: flags that cannot be right stop `weir serve` before it starts, and the
//! help shows each default (taken from the library's settings).

use std::process::Command;

fn weir(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .output()
        .expect("running weir");
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    (output.status.code(), text)
}

#[test]
fn a_retention_for_no_valid_stream_name_is_a_startup_error() {
    for (arg, expected) in [
        ("app_*=7", "invalid stream name `app_*`"),
        ("Web=7", "invalid stream name `Web`"),
        ("web", "expected STREAM=DAYS"),
        ("web=-1", "days must be a positive number"),
        ("web=soon", "`soon`"),
    ] {
        let (code, text) = weir(&["serve", "--stream-retention", arg]);
        assert_eq!(code, Some(2), "--stream-retention {arg}: {text}");
        assert!(text.contains(expected), "--stream-retention {arg}: {text}");
    }
}

#[test]
fn the_help_shows_the_library_defaults() {
    let (code, text) = weir(&["serve", "--help"]);
    assert_eq!(code, Some(0), "{text}");
    for expected in [
        "[default: 67108864]",
        "[default: 30]",
        "[default: 3600]",
        "[default: 10000]",
        "[default: 536870912]",
        "[default: 300]",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
}
