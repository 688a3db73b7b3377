#!/usr/bin/env python3
"""An ELS contact chip in vsmartcard's vicc, the ISO 7816 card emulator nobody in this project
wrote: vicc's own file system (MF, DF, transparent EFs) and command handling, with DF.SELS
(AID D6 16 00 00 30 01 01) holding EF.CERT (0001) and EF.ELS (0002), each exactly as long as
its content. Connects to the vpcd reader on --port and answers until killed.

  els_vicc_card.py --port 35963 --els els.der --cert signer.der [--chunk 59]

--chunk N makes READ BINARY give at most N bytes with 9000, as cards with an odd internal
buffer do. Nothing here gives a chip serial: vicc answers no FF CA, CPLC or EF.GDO.
"""

import argparse
import logging
import sys

try:
    import virtualsmartcard  # noqa: F401
except ImportError:
    # Debian's python3-virtualsmartcard (0.8) installs the package one directory too deep.
    sys.path.append("/usr/lib/python3/site-packages/virtualsmartcard")
try:
    import Crypto  # noqa: F401
except ImportError:
    # vicc imports PyCrypto's names; Debian's python3-pycryptodome offers them as Cryptodome.
    import Cryptodome
    import Cryptodome.Cipher
    import Cryptodome.Hash

    sys.modules.update(
        {"Crypto": Cryptodome, "Crypto.Cipher": Cryptodome.Cipher, "Crypto.Hash": Cryptodome.Hash}
    )

from virtualsmartcard.SmartcardFilesystem import DF, MF, TransparentStructureEF
from virtualsmartcard.SmartcardSAM import SAM
from virtualsmartcard.VirtualSmartcard import Iso7816OS, VirtualICC

SELS_AID = bytes.fromhex("D6160000300101")
SELS_FID = 0x3150
EF_CERT_FID = 0x0001
EF_ELS_FID = 0x0002


class ElsOS(Iso7816OS):
    """vicc's ISO 7816 OS, with two changes a real card shows: proprietary classes (CLA with
    bit 8 set: FF CA, 80 CA, 80 F6) are answered 6E00, class not supported (vicc 0.8 reads them
    as secure messaging and its emulator dies), READ BINARY answers are capped at `chunk`
    bytes, and a command vicc itself fails on (SELECT asking for the FCI, in 0.8) is answered
    6F00 instead of killing the emulator."""

    def __init__(self, mf, sam, chunk):
        super().__init__(mf, sam)
        self.chunk = chunk

    def execute(self, msg):
        if len(msg) >= 4 and msg[0] & 0x80:
            return b"\x6e\x00"
        try:
            answer = super().execute(msg)
        except Exception:  # noqa: BLE001 - a vicc bug (e.g. SELECT with FCI) must not kill the card
            logging.exception("vicc failed on %s", msg.hex())
            return b"\x6f\x00"
        if self.chunk and len(msg) >= 2 and msg[1] == 0xB0 and len(answer) - 2 > self.chunk:
            answer = answer[: self.chunk] + b"\x90\x00"
        return answer


def card(els, cert):
    mf = MF()
    sels = DF(parent=mf, fid=SELS_FID, dfname=SELS_AID)
    mf.append(sels)
    sels.append(TransparentStructureEF(parent=sels, fid=EF_CERT_FID, data=cert))
    sels.append(TransparentStructureEF(parent=sels, fid=EF_ELS_FID, data=els))
    sam = SAM(b"1234", b"1234567890")
    sam.set_MF(mf)
    return mf, sam


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=35963)
    parser.add_argument("--els", required=True, help="DER for EF.ELS")
    parser.add_argument("--cert", required=True, help="DER for EF.CERT")
    parser.add_argument("--chunk", type=int, default=0)
    args = parser.parse_args()
    with open(args.els, "rb") as f:
        els = f.read()
    with open(args.cert, "rb") as f:
        cert = f.read()
    # vicc builds its default card and connects; the ELS file system replaces the card.
    vicc = VirtualICC(None, "iso7816", "localhost", args.port, logginglevel=logging.WARNING)
    mf, sam = card(els, cert)
    vicc.os = ElsOS(mf, sam, args.chunk)
    print(f"vicc ELS card on vpcd port {args.port}", file=sys.stderr, flush=True)
    vicc.run()


if __name__ == "__main__":
    main()
