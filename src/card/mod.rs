//! The transport-agnostic smart-card layer. Only `pcsc.rs` touches the pcsc crate.

pub mod apdu;
pub mod chip_serial;
pub mod desfire;
pub mod desfire_record;
#[cfg(test)]
pub(crate) mod desfire_traces;
pub mod els;
pub mod feed;
pub mod pcsc;
pub mod printer_evolis;
pub mod transport;

pub use apdu::{Command, Response, StatusWord, exchange};
pub use chip_serial::{ChipSerial, SerialSource, read_chip_serial};
pub use transport::{Connect, Counting, ReaderEvent, Transport, TransportError};

/// `FF CA 00 00 00`: the PC/SC part 3 pseudo-APDU for the chip UID, answered by the reader.
/// Contactless (DESFire) work only: an ELS contact chip's serial is [`read_chip_serial`].
pub fn read_uid<T: Transport + ?Sized>(transport: &mut T) -> Result<Vec<u8>, TransportError> {
    let response = exchange(
        transport,
        &Command::new(0xFF, 0xCA, 0x00, 0x00).with_le(256),
    )?;
    let sw = response.sw;
    match response.success() {
        Ok(uid) if !uid.is_empty() => Ok(uid),
        Ok(_) => Err(TransportError::Protocol(
            "the reader returned an empty UID".into(),
        )),
        Err(_) => Err(TransportError::Protocol(format!(
            "the reader refused GET UID: {sw}"
        ))),
    }
}
