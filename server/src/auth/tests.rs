//! Roles, names, password rules and argon2id hashes; users in the metadata database.

use super::password::verify_password;
use super::{check_name, check_password, hash_password};
use crate::meta::{Error, Meta};

#[test]
fn names_and_passwords_are_checked() {
    assert!(check_name("ann").is_ok());
    assert!(check_name("ann.lee@example.com").is_ok());
    for bad in ["", "ann lee", "a/b", "x'; DROP", &"a".repeat(65)] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
    assert!(check_password("long enough").is_ok());
    let err = check_password("pw7x").unwrap_err();
    assert!(err.contains("at least 8") && !err.contains("pw7x"), "{err}");
    assert!(check_password(&"x".repeat(1025)).is_err());
}

#[test]
fn a_hash_is_argon2id_salted_and_verifies_only_its_password() {
    let a = hash_password("correct horse");
    let b = hash_password("correct horse");
    assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
    assert!(!a.contains("correct horse"));
    assert_ne!(a, b, "each hash has its own salt");
    assert!(verify_password("correct horse", &a));
    assert!(verify_password("correct horse", &b));
    assert!(!verify_password("correct horsf", &a));
    assert!(!verify_password("correct horse", "not a hash"));
}

#[tokio::test]
async fn users_are_added_listed_changed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open(dir.path()).unwrap();
    meta.add_user("bob".into(), "viewer", hash_password("bob's password"))
        .await
        .unwrap();
    meta.add_user("ann".into(), "admin", hash_password("ann's password"))
        .await
        .unwrap();
    let again = meta
        .add_user("ann".into(), "viewer", hash_password("other password"))
        .await
        .unwrap_err();
    assert!(matches!(again, Error::Exists { .. }), "{again}");
    assert_eq!(again.to_string(), "user `ann` already exists");

    let users = meta.users().await.unwrap();
    let names: Vec<(&str, &str)> = users
        .iter()
        .map(|u| (u.name.as_str(), u.role.as_str()))
        .collect();
    assert_eq!(names, [("ann", "admin"), ("bob", "viewer")]);
    assert!(verify_password("ann's password", &users[0].password_hash));

    meta.set_user_password("ann".into(), hash_password("new password"))
        .await
        .unwrap();
    let users = meta.users().await.unwrap();
    assert!(verify_password("new password", &users[0].password_hash));
    assert!(!verify_password("ann's password", &users[0].password_hash));

    meta.remove_user("bob".into()).await.unwrap();
    let gone = meta.remove_user("bob".into()).await.unwrap_err();
    assert_eq!(gone.to_string(), "user `bob` does not exist");
    let missing = meta
        .set_user_password("bob".into(), hash_password("whatever1"))
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }));
    assert_eq!(meta.users().await.unwrap().len(), 1);
}
