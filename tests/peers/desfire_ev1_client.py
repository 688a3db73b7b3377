#!/usr/bin/env python3
"""A MIFARE DESFire EV1 reader, independent of Cardstation: pyscard for PC/SC, pycryptodome
for AES, the protocol from NXP's public notes and the published traces (AN10922 key
diversification; EV1 AuthenticateAES 0xAA; the EV1 secure-messaging CMAC chain;
GetFileSettings 0xF5; ReadData 0xBD in the file's communication mode).

  desfire_ev1_client.py --self-test
  desfire_ev1_client.py --reader NAME --master HEX --aid F54230 --sysid HEX --key-no 1 --file 1

The key is AN10922-diversified from --master with UID(7) || AID(3, LSB first) || --sysid; the
UID comes from the reader (PC/SC part 3 FF CA). Prints one JSON line: uid, the file settings
and the file's bytes. Exits 1 with the reason on stderr when anything fails.
"""

import argparse
import json
import os
import sys
import zlib

from Cryptodome.Cipher import AES
from smartcard.System import readers

BLOCK = 16


class DesfireError(Exception):
    pass


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def shift_left(block):
    """Doubling in GF(2^128) for the CMAC subkeys (Rb = 0x87)."""
    value = int.from_bytes(block, "big") << 1
    if value >> 128:
        value = (value & ((1 << 128) - 1)) ^ 0x87
    return value.to_bytes(BLOCK, "big")


def subkeys(key):
    l = AES.new(key, AES.MODE_ECB).encrypt(bytes(BLOCK))
    k1 = shift_left(l)
    return k1, shift_left(k1)


def cbc_last_block(key, iv, data):
    return AES.new(key, AES.MODE_CBC, iv=iv).encrypt(data)[-BLOCK:]


def cmac(key, data, iv=bytes(BLOCK)):
    """NIST SP 800-38B CMAC, starting from `iv` (the EV1 session chain) instead of zeros."""
    k1, k2 = subkeys(key)
    if data and len(data) % BLOCK == 0:
        message = data[:-BLOCK] + xor(data[-BLOCK:], k1)
    else:
        padded = data + b"\x80" + bytes((-len(data) - 1) % BLOCK)
        message = padded[:-BLOCK] + xor(padded[-BLOCK:], k2)
    return cbc_last_block(key, iv, message)


def an10922_aes(master, div_input):
    """AN10922 AES-128: the CMAC of 01 || input, always over exactly two blocks."""
    m = b"\x01" + div_input
    if not 1 <= len(div_input) <= 31:
        raise ValueError("AN10922 AES input is 1 to 31 bytes")
    k1, k2 = subkeys(master)
    if len(m) == 2 * BLOCK:
        message = m[:BLOCK] + xor(m[BLOCK:], k1)
    else:
        padded = m + b"\x80" + bytes(2 * BLOCK - len(m) - 1)
        message = padded[:BLOCK] + xor(padded[BLOCK:], k2)
    return cbc_last_block(master, bytes(BLOCK), message)


def desfire_crc32(data):
    """CRC32 without the final XOR (JAMCRC), little-endian."""
    return ((~zlib.crc32(data)) & 0xFFFFFFFF).to_bytes(4, "little")


def rotl(data):
    return data[1:] + data[:1]


def auth_token(key, encrypted_rnd_b, rnd_a):
    """Step 2 of AuthenticateAES: RndB, and E(RndA || rotl(RndB)) chained on E(RndB)."""
    rnd_b = AES.new(key, AES.MODE_CBC, iv=bytes(BLOCK)).decrypt(encrypted_rnd_b)
    token = AES.new(key, AES.MODE_CBC, iv=encrypted_rnd_b).encrypt(rnd_a + rotl(rnd_b))
    return rnd_b, token


def auth_check(key, token, answer, rnd_a, rnd_b):
    """Step 3: the card proves it knows the key with rotl(RndA); the session key."""
    rnd_a_rotated = AES.new(key, AES.MODE_CBC, iv=token[-BLOCK:]).decrypt(answer)
    if rnd_a_rotated != rotl(rnd_a):
        raise DesfireError("the card's answer to the authentication does not match RndA")
    return rnd_a[0:4] + rnd_b[0:4] + rnd_a[12:16] + rnd_b[12:16]


class Session:
    """The EV1 secure-messaging chain after AuthenticateAES: every command is CMACed into
    the IV; every OK response carries (or, enciphered, is chained by) the next block."""

    def __init__(self, key):
        self.key = key
        self.iv = bytes(BLOCK)

    def command(self, frame):
        self.iv = cmac(self.key, frame, self.iv)

    def maced_response(self, data_and_mac, status=0):
        data, mac = data_and_mac[:-8], data_and_mac[-8:]
        full = cmac(self.key, data + bytes([status]), self.iv)
        if full[:8] != mac:
            raise DesfireError("the response CMAC is wrong")
        self.iv = full
        return data

    def enciphered_response(self, ciphertext, length):
        plain = AES.new(self.key, AES.MODE_CBC, iv=self.iv).decrypt(ciphertext)
        self.iv = ciphertext[-BLOCK:]
        data, crc, padding = plain[:length], plain[length : length + 4], plain[length + 4 :]
        if crc != desfire_crc32(data + b"\x00") or any(padding):
            raise DesfireError("the enciphered data's CRC32 or padding is wrong")
        return data


class Card:
    """ISO 7816-4 wrapped native DESFire commands over a pyscard connection."""

    def __init__(self, connection):
        self.connection = connection

    def transmit(self, apdu):
        data, sw1, sw2 = self.connection.transmit(list(apdu))
        return bytes(data), sw1, sw2

    def uid(self):
        data, sw1, sw2 = self.transmit(b"\xff\xca\x00\x00\x00")
        if (sw1, sw2) != (0x90, 0x00):
            raise DesfireError(f"the reader gave no UID ({sw1:02X}{sw2:02X})")
        return data

    def native(self, ins, params=b""):
        """One native command with its AF continuation frames: (status, all data)."""
        apdu = bytes([0x90, ins, 0, 0]) + (bytes([len(params)]) + params if params else b"") + b"\x00"
        data, sw1, status = self.transmit(apdu)
        if sw1 != 0x91:
            raise DesfireError(f"not a DESFire answer: {sw1:02X}{status:02X}")
        while status == 0xAF and ins != 0xAA:
            more, sw1, status = self.transmit(b"\x90\xaf\x00\x00\x00")
            data += more
        return status, data

    def expect(self, what, ins, params=b""):
        status, data = self.native(ins, params)
        if status != 0x00:
            raise DesfireError(f"{what} failed: DESFire status {status:02X}")
        return data

    def select_application(self, aid_lsb_first):
        self.expect("SelectApplication", 0x5A, aid_lsb_first)

    def authenticate_aes(self, key_no, key):
        status, encrypted_rnd_b = self.native(0xAA, bytes([key_no]))
        if status != 0xAF or len(encrypted_rnd_b) != BLOCK:
            raise DesfireError(f"AuthenticateAES refused: DESFire status {status:02X}")
        rnd_a = os.urandom(BLOCK)
        rnd_b, token = auth_token(key, encrypted_rnd_b, rnd_a)
        apdu = b"\x90\xaf\x00\x00\x20" + token + b"\x00"
        answer, sw1, status = self.transmit(apdu)
        if (sw1, status) != (0x91, 0x00):
            raise DesfireError(f"AuthenticateAES: wrong key (DESFire status {status:02X})")
        return Session(auth_check(key, token, answer, rnd_a, rnd_b))

    def file_settings(self, session, file_no):
        frame = bytes([0xF5, file_no])
        session.command(frame)
        data = session.maced_response(self.expect("GetFileSettings", 0xF5, frame[1:]))
        file_type, comm = data[0], data[1]
        rights = int.from_bytes(data[2:4], "little")
        size = int.from_bytes(data[4:7], "little")
        return {
            "file_type": {0: "standard", 1: "backup"}.get(file_type, file_type),
            "comm_mode": {0: "plain", 1: "maced", 3: "enciphered"}[comm],
            "read_key": rights >> 12,
            "write_key": (rights >> 8) & 0xF,
            "read_write_key": (rights >> 4) & 0xF,
            "change_key": rights & 0xF,
            "size": size,
        }

    def read_data(self, session, file_no, length, comm_mode):
        params = bytes([file_no]) + (0).to_bytes(3, "little") + length.to_bytes(3, "little")
        session.command(bytes([0xBD]) + params)
        answer = self.expect("ReadData", 0xBD, params)
        if comm_mode == "enciphered":
            return session.enciphered_response(answer, length)
        return session.maced_response(answer)


def self_test():
    """The crypto against NXP's and the published traces' vectors."""
    h = bytes.fromhex
    # AN10922 §2.2.1: AES-128, UID 04782E21801D80, AID 3042F5, system id "NXP Abu".
    assert subkeys(h("00112233445566778899AABBCCDDEEFF")) == (
        h("FBC9F75C9413C041DFEE452D3F0706D1"),
        h("F793EEB928278083BFDC8A5A7E0E0D25"),
    )
    assert an10922_aes(
        h("00112233445566778899AABBCCDDEEFF"), h("04782E21801D80" "3042F5" "4E585020416275")
    ) == h("A8DD63A3B89D54B37CA802473FDA9175")
    # AN10957: a short input (padded to two blocks, unlike NIST CMAC).
    assert an10922_aes(h("F3F9377698707B688EAF84ABE39E3791"), h("04DEADBEEFFEED")) == h(
        "0BB408BAFF98B6EE9F2E1585777F6A51"
    )
    # AuthenticateAES with key 0 (patsys/desfire-python AuthTest_AES).
    key = bytes(BLOCK)
    rnd_a = h("F44B26F5686F3A391CD38EBD10772281")
    rnd_b, token = auth_token(key, h("B969FDFE56FD91FC9DE6F6F213B8FD1E"), rnd_a)
    assert rnd_b == h("C05DDD714FD788A6B7B754F3C4D066E8")
    assert token == h("36AAD7DF6E436BA08D18613830A70D5AD43E3D3F4A8D47541EEE623A934E4774")
    session_key = auth_check(key, token, h("800DB680BC146BD121D6578F2D2E2059"), rnd_a, rnd_b)
    assert session_key == h("F44B26F5C05DDD7110772281C4D066E8")
    # The CMAC chain of an AES session (same source, File()): commands and MACed answers.
    session = Session(h("40E7D271626FFBD49C530E3D304F5B17"))
    for command, answer in [
        ("CD05001100500000", "A75316AD1596B953"),
        ("6F", "052D5FF67FFEC9D2D3"),
        ("F505", "000011005000002AAC7517024E09DC"),
    ]:
        session.command(h(command))
        session.maced_response(h(answer))
    # The DESFire CRC32 is JAMCRC (CRC32 without the final XOR; check value 340BC6D9), LE.
    assert desfire_crc32(b"123456789") == h("D9C60B34")
    print("self-test passed", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--reader", help="PC/SC reader name")
    parser.add_argument("--master", help="AN10922 master key, hex (AES-128)")
    parser.add_argument("--aid", help="application ID as a number, hex, e.g. F54230")
    parser.add_argument("--sysid", help="rest of the diversification input, hex")
    parser.add_argument("--key-no", type=int, default=1)
    parser.add_argument("--file", type=int, default=1)
    args = parser.parse_args()
    self_test()
    if args.self_test:
        return
    try:
        reader = next(r for r in readers() if str(r) == args.reader)
    except StopIteration:
        sys.exit(f"no reader named {args.reader!r}: {[str(r) for r in readers()]}")
    connection = reader.createConnection()
    connection.connect()
    card = Card(connection)
    try:
        uid = card.uid()
        aid = bytes.fromhex(args.aid)[::-1]
        key = an10922_aes(bytes.fromhex(args.master), uid + aid + bytes.fromhex(args.sysid))
        card.select_application(aid)
        session = card.authenticate_aes(args.key_no, key)
        settings = card.file_settings(session, args.file)
        data = card.read_data(session, args.file, settings["size"], settings["comm_mode"])
    except DesfireError as err:
        sys.exit(f"error: {err}")
    print(json.dumps({"uid": uid.hex().upper(), "settings": settings, "data": data.hex().upper()}))


if __name__ == "__main__":
    main()
