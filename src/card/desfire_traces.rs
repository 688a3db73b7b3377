//! Recorded DESFire exchanges (native form: `command ‖ data` → `status ‖ data`), replayed
//! byte for byte against the client and the simulated card. Sources: patsys/desfire-python
//! `test.py` (A, B, C, F) and desox `metadata.replay` (E), see the DESFire facts file.

use crate::card::apdu::Command;

pub(crate) fn h(hex: &str) -> Vec<u8> {
    hex::decode(hex.replace(' ', "")).expect("trace constants are hex")
}

/// The ISO-wrapped form of a native command: `90 INS 00 00 [Lc data] 00`.
pub(crate) fn iso_command(native: &str) -> Vec<u8> {
    let native = h(native);
    let (ins, data) = native.split_first().expect("a native command has its code");
    Command::new(0x90, *ins, 0, 0)
        .with_data(data)
        .with_le(256)
        .to_bytes()
        .expect("trace commands are short")
}

/// The ISO-wrapped form of a native answer: `data 91 status`.
pub(crate) fn iso_answer(native: &str) -> Vec<u8> {
    let native = h(native);
    let (status, data) = native
        .split_first()
        .expect("a native answer has its status");
    let mut answer = data.to_vec();
    answer.extend_from_slice(&[0x91, *status]);
    answer
}

/// One recorded session: the key used, the PCD's challenges in order, and the exchanges.
pub(crate) struct Trace {
    pub rnd_a: &'static [&'static str],
    pub steps: &'static [(&'static str, &'static str)],
}

/// A: AES authentication with key 0 = 00×16.
pub(crate) const AES_AUTH: Trace = Trace {
    rnd_a: &["F44B26F5686F3A391CD38EBD10772281"],
    steps: &[
        ("AA 00", "AF B969FDFE56FD91FC9DE6F6F213B8FD1E"),
        (
            "AF 36AAD7DF6E436BA08D18613830A70D5AD43E3D3F4A8D47541EEE623A934E4774",
            "00 800DB680BC146BD121D6578F2D2E2059",
        ),
    ],
};

/// RndB of trace A, as the simulated card must draw it.
pub(crate) const AES_AUTH_RND_B: &str = "C05DDD714FD788A6B7B754F3C4D066E8";

/// B: AES session (key 0 = `10182028303840485058606870788088`) creating, writing, reading
/// and deleting plain file 5 (access `11 00`, 80 bytes).
pub(crate) const AES_FILES: Trace = Trace {
    rnd_a: &["40E7D27174CBA675E8EFBAB99C530E3D"],
    steps: &[
        ("AA 00", "AF B351CB2465D4F33AC627FD6E87A168F2"),
        (
            "AF 044B6CAC343A0865895149649CA8DDE1F5AC4EC67BD208900AF02F049E05F0B0",
            "00 A2EE144B1012FBEB7B2F11132D95A454",
        ),
        ("CD 05 00 11 00 50 00 00", "00 A75316AD1596B953"),
        ("6F", "00 05 2D5FF67FFEC9D2D3"),
        ("F5 05", "00 00001100500000 2AAC7517024E09DC"),
        (
            "3D 05 000000 340000 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F30313233",
            "00 765C9DAA50ECB62F",
        ),
        (
            "3D 05 340000 1C0000 3435363738393A3B3C3D3E3F404142434445464748494A4B4C4D4E4F",
            "00 3E0AED986B8B0F37",
        ),
        (
            "BD 05 000000 300000",
            "00 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F 4C65F1F842262BAC",
        ),
        (
            "BD 05 300000 200000",
            "00 303132333435363738393A3B3C3D3E3F404142434445464748494A4B4C4D4E4F F02205CF913C03C9",
        ),
        ("DF 05", "00 1BEF0D32B6D1D7F9"),
    ],
};

pub(crate) const AES_FILES_RND_B: &str = "626FFBD45CAF334ACCA45599304F5B17";

/// C: ISO authentication with the factory DES key (00×16) at card level, GetVersion in three
/// frames, FormatPICC and CreateApplication `00DE16` (2 keys, 2K3DES).
pub(crate) const DES_CARD: Trace = Trace {
    rnd_a: &["849B36C5F8BF4A09"],
    steps: &[
        ("45", "00 0F01"),
        ("1A 00", "AF 5D994CE085F24089"),
        ("AF 21D0AD5F2FD97454A746CC80567F1B1C", "00 913C6DED84221C41"),
        ("60", "AF 04010101001A05"),
        ("AF", "AF 04010101041A05"),
        ("AF", "00 04063F72633480BA4519E3204913 CDC810BAFA401759"),
        ("FC", "00 9C2C813A065C45F7"),
        ("CA 16 DE 00 0F 02", "00 0A1379B01D85AD47"),
    ],
};

pub(crate) const DES_CARD_RND_B: &str = "4FD1B75942A8B8E1";
pub(crate) const DES_CARD_UID: &str = "04063F72633480";

/// E: a real EV3 (desox): ISO authentication with DES key 0 = 00×16, then GetKeySettings,
/// GetKeyVersion, GetApplicationIDs (none) and GetCardUID (enciphered).
pub(crate) const CARD_UID: Trace = Trace {
    rnd_a: &["32C28FDAFD3960DE"],
    steps: &[
        ("1A 00", "AF C7BBD82FF8FEFAE8"),
        ("AF C6DAB54DF2278D2952D560821BE7E4C3", "00 7D9ABE94A9B14748"),
        ("45", "00 0F01 1D5C40F4990ACD9C"),
        ("64 00", "00 00 0A361CE1FF0CDC9E"),
        ("6A", "00 9651C9DC43B6E417"),
        ("51", "00 BAF665C87723C13876C10B993668481F"),
    ],
};

pub(crate) const CARD_UID_UID: &str = "0464D59ADD1E90";

/// F: ChangeKey at card level in ISO/DES sessions: key 0 from 00×16 to `00102030…B0A09080`
/// (same-key form), re-authentication, to `10182028…70788088`, GetKeyVersion, back to zeros,
/// then key 1 twice in the other-key form (patsys `Test_2k3DES`).
pub(crate) const CHANGE_KEYS: Trace = Trace {
    rnd_a: &[
        "C96CE35E4D6087F2",
        "530E3D90F7A201C4",
        "DDB097C2A1E47B96",
        "CBA675E8EFBAB99C",
    ],
    steps: &[
        ("1A 00", "AF DE50F92310CAF5A5"),
        ("AF E00616668704D5549C8D6A13A0F8FCED", "00 1D9D2954697DE760"),
        (
            "C4 00 BEDE0FC6ED347DCF0D51C717DF75D97D2C5A2BA6CAC7479D",
            "00",
        ),
        ("1A 00", "AF B295579926155AE3"),
        ("AF 70F349740C945DAE159BA9FEDBCC461A", "00 B8FD7FE56B241FC4"),
        (
            "C4 00 94E4F709DC2A2B07552610A1966E5C49EC90F616EDECA55B",
            "00",
        ),
        ("1A 00", "AF 9414819CC8BB62C3"),
        ("AF 937E6B1854A6D92E0FD975D9909001E8", "00 E055D11DD9535060"),
        ("64 00", "00 10 3345AA95F2D956CF"),
        (
            "C4 00 FC9E20FD77191E2AAB0CFD53D9999984BC59E886BFEB42D0",
            "00",
        ),
        ("1A 00", "AF 53A670D78C0DFFD6"),
        ("AF B308408B575A2025253D49D693CCC29C", "00 525BB01E5B70B794"),
        (
            "C4 01 4EB669E48DCA584749542E1BE89CB4C7845A38C57D19DE59",
            "00 2EAD04DCF121E0FE",
        ),
        (
            "C4 01 FA7BEFA6782C93E8D69CF7352CFD33DF5BC8AC4FBA4906FC",
            "00 CB0A506405512893",
        ),
    ],
};
