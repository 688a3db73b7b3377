//! DESFire commands of the binary that need no reader.

use std::process::{Command, Output};

fn cardstation(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .args(args)
        .output()
        .expect("the binary runs")
}

const MASTER: &str = "00112233445566778899AABBCCDDEEFF";

#[test]
fn diversify_prints_the_nxp_aes_example_key() {
    let out = cardstation(&[
        "diversify",
        "--alg",
        "aes",
        "--key",
        MASTER,
        "--uid",
        "04782E21801D80",
        "--aid",
        "3042F5",
        "--sysid",
        "4E585020416275",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().last(),
        Some("A8DD63A3B89D54B37CA802473FDA9175")
    );
}

#[test]
fn diversify_prints_the_nxp_2k3des_example_key() {
    let out = cardstation(&[
        "diversify",
        "--alg",
        "2k3des",
        "--key",
        MASTER,
        "--uid",
        "04782E21801D80",
        "--aid",
        "3042F5",
        "--sysid",
        "4E58502041",
    ]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "16F8597C9E8910C86B9648D006107DD7"
    );
}

#[test]
fn diversify_bad_input_fails_without_echoing_the_key() {
    let secretish = "00112233445566778899AABBCCDDEEZZ";
    let out = cardstation(&[
        "diversify",
        "--alg",
        "aes",
        "--key",
        secretish,
        "--uid",
        "04782E21801D80",
        "--aid",
        "3042F5",
        "--sysid",
        "4E58",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: --key is not hex"), "{stderr}");
    assert!(stderr.contains("next step:"), "{stderr}");
    assert!(!stderr.contains("0011223344"), "{stderr}");

    let short = cardstation(&[
        "diversify",
        "--alg",
        "3k3des",
        "--key",
        MASTER,
        "--uid",
        "04782E21801D80",
        "--aid",
        "3042F5",
        "--sysid",
        "4E58",
    ]);
    assert_eq!(short.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(stderr.contains("must be 24 bytes, got 16"), "{stderr}");
    assert!(!stderr.contains("0011223344"), "{stderr}");

    let bad_uid = cardstation(&[
        "diversify",
        "--alg",
        "aes",
        "--key",
        MASTER,
        "--uid",
        "xyz",
        "--aid",
        "3042F5",
        "--sysid",
        "4E58",
    ]);
    assert_eq!(bad_uid.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_uid.stderr).contains("--uid \"xyz\" is not hex"));

    let bad_alg = cardstation(&[
        "diversify",
        "--alg",
        "des",
        "--key",
        MASTER,
        "--uid",
        "04",
        "--aid",
        "3042F5",
        "--sysid",
        "4E58",
    ]);
    assert_eq!(
        bad_alg.status.code(),
        Some(2),
        "a wrong --alg is a usage error"
    );
}
