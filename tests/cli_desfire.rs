//! DESFire commands of the binary that need no reader.

use std::process::{Command, Output};

fn cardstation(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .args(args)
        .output()
        .expect("the binary runs")
}

const MASTER: &str = "00112233445566778899AABBCCDDEEFF";

/// `cardstation diversify` with the NXP example's AID.
fn diversify(alg: &str, key: &str, uid: &str, sysid: &str) -> Output {
    cardstation(&[
        "diversify",
        "--alg",
        alg,
        "--key",
        key,
        "--uid",
        uid,
        "--aid",
        "3042F5",
        "--sysid",
        sysid,
    ])
}

const NXP_UID: &str = "04782E21801D80";

#[test]
fn diversify_prints_the_nxp_example_keys() {
    let aes = diversify("aes", MASTER, NXP_UID, "4E585020416275");
    assert!(
        aes.status.success(),
        "{}",
        String::from_utf8_lossy(&aes.stderr)
    );
    let stdout = String::from_utf8(aes.stdout).unwrap();
    assert_eq!(
        stdout.lines().last(),
        Some("A8DD63A3B89D54B37CA802473FDA9175")
    );
    let tdes = diversify("2k3des", MASTER, NXP_UID, "4E58502041");
    assert_eq!(
        String::from_utf8(tdes.stdout).unwrap().trim(),
        "16F8597C9E8910C86B9648D006107DD7"
    );
}

#[test]
fn diversify_bad_input_fails_without_echoing_the_key() {
    let not_hex = diversify("aes", "00112233445566778899AABBCCDDEEZZ", NXP_UID, "4E58");
    let short = diversify("3k3des", MASTER, NXP_UID, "4E58");
    let bad_uid = diversify("aes", MASTER, "xyz", "4E58");
    for (out, message) in [
        (&not_hex, "error: --key is not hex"),
        (&short, "must be 24 bytes, got 16"),
        (&bad_uid, "--uid \"xyz\" is not hex"),
    ] {
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{stderr}");
        assert!(stderr.contains("next step:"), "{stderr}");
        assert!(!stderr.contains("0011223344"), "{stderr}");
    }
    let bad_alg = diversify("des", MASTER, NXP_UID, "4E58");
    assert_eq!(
        bad_alg.status.code(),
        Some(2),
        "a wrong --alg is a usage error"
    );
}
