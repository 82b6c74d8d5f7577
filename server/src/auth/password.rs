//! Passwords as argon2id hashes (the `argon2` crate, RustCrypto's): OWASP's parameters (19 MiB,
//! 2 passes, 1 lane), a random 16-byte salt per hash, stored as a PHC string that carries its
//! parameters, so that stronger ones later still verify old hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// The PHC string of `password`'s argon2id hash under a fresh salt.
pub(crate) fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id hashes any password with default parameters")
        .to_string()
}

/// Whether `password` is the one `phc` was made from. A stored hash that does not parse
/// verifies nothing. The comparison is constant-time (the crate's).
pub(crate) fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
}
