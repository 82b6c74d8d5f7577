//! `weir user`: users added, listed, given a new password and removed on a data directory, with
//! the password read from standard input and never stored or printed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn weir(data: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("user")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("writing stdin");
    child.wait_with_output().expect("weir exits")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn users_are_managed_from_the_command_line_and_passwords_never_kept() {
    let dir = e2e::test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "users_cli");
    // Not made beforehand: the first `weir user add` makes it.
    let data = dir.join("data");
    let secret = "pa55word-ann-7f3a";

    let added = weir(
        &data,
        &["add", "--name", "ann", "--role", "admin"],
        &format!("{secret}\n"),
    );
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains("added admin ann"));
    let viewer = weir(
        &data,
        &["add", "--name", "bob", "--role", "viewer"],
        "bob-password\r\n",
    );
    assert!(viewer.status.success(), "{}", text(&viewer));

    let again = weir(
        &data,
        &["add", "--name", "ann", "--role", "viewer"],
        "another-password\n",
    );
    assert!(!again.status.success());
    assert!(
        text(&again).contains("user `ann` already exists"),
        "{}",
        text(&again)
    );

    let bad_role = weir(
        &data,
        &["add", "--name", "cy", "--role", "root"],
        "password-1\n",
    );
    assert!(!bad_role.status.success());
    assert!(
        text(&bad_role).contains("one of admin, editor, viewer"),
        "{}",
        text(&bad_role)
    );
    let short = weir(
        &data,
        &["add", "--name", "cy", "--role", "editor"],
        "short\n",
    );
    assert!(!short.status.success());
    assert!(
        text(&short).contains("at least 8 characters"),
        "{}",
        text(&short)
    );
    let bad_name = weir(
        &data,
        &["add", "--name", "c y", "--role", "editor"],
        "password-1\n",
    );
    assert!(!bad_name.status.success());
    assert!(
        text(&bad_name).contains("a user name is"),
        "{}",
        text(&bad_name)
    );

    let nowhere = weir(&dir.join("nowhere"), &["list"], "");
    assert!(!nowhere.status.success());
    assert!(
        text(&nowhere).contains("no data directory at"),
        "{}",
        text(&nowhere)
    );

    let list = weir(&data, &["list"], "");
    assert!(list.status.success(), "{}", text(&list));
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        "ann\tadmin\nbob\tviewer\n"
    );

    let changed = weir(
        &data,
        &["set-password", "--name", "bob"],
        "bob-new-password\n",
    );
    assert!(changed.status.success(), "{}", text(&changed));
    let unknown = weir(&data, &["set-password", "--name", "zed"], "zed-password\n");
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("user `zed` does not exist"),
        "{}",
        text(&unknown)
    );

    let removed = weir(&data, &["remove", "--name", "bob"], "");
    assert!(removed.status.success(), "{}", text(&removed));
    let list = weir(&data, &["list"], "");
    assert_eq!(String::from_utf8_lossy(&list.stdout), "ann\tadmin\n");

    // The password is in no file of the data directory (only its argon2id hash is), and in no
    // output.
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the password",
                path.display()
            );
        }
    }
    for output in [&added, &again, &list] {
        assert!(!text(output).contains(secret));
    }
}
