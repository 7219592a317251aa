//! KPL de-aggregation. The Kinesis Producer Library packs many user records into one Kinesis
//! record: the magic `F3 89 9A C2`, a protobuf `AggregatedRecord`, and the MD5 of the protobuf.
//! Each user record gets the Kinesis record's sequence number plus a sub-sequence number (its
//! index), which is what checkpoints and bronze carry.
//!
//! ```text
//! message AggregatedRecord { repeated string partition_key_table = 1;
//!                            repeated string explicit_hash_key_table = 2;
//!                            repeated Record records = 3; }
//! message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
//!                  required bytes data = 3; repeated Tag tags = 4; }
//! ```
//!
//! The protobuf is read by hand (a few dozen lines) rather than through a code generator: the
//! format is frozen, and this keeps the build free of protoc.

use bytes::Bytes;
use md5::{Digest, Md5};

pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// One user record out of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Bytes,
    /// Index within the aggregate.
    pub sub_sequence: u64,
}

/// Why an aggregate could not be split. The consumer then passes the Kinesis record on whole,
/// and silver rejects it as `corrupt_kpl_aggregate` — a bad row, never a crash or a silent drop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KplError {
    #[error("KPL aggregate checksum mismatch (MD5 of the body does not match the trailer)")]
    Checksum,
    #[error("KPL aggregate body is not a valid AggregatedRecord: {0}")]
    Malformed(String),
}

/// Whether `data` has the KPL magic and room for a digest (it may still be corrupt).
pub fn looks_aggregated(data: &[u8]) -> bool {
    data.len() >= MAGIC.len() + DIGEST_LEN && data[..MAGIC.len()] == MAGIC
}

/// Split an aggregated record. `Ok(None)`: not an aggregate (pass the record on as it is).
pub fn deaggregate(data: &Bytes) -> Result<Option<Vec<UserRecord>>, KplError> {
    if !looks_aggregated(data) {
        return Ok(None);
    }
    let body = &data[MAGIC.len()..data.len() - DIGEST_LEN];
    let digest = &data[data.len() - DIGEST_LEN..];
    if Md5::digest(body).as_slice() != digest {
        return Err(KplError::Checksum);
    }
    let mut partition_keys = Vec::new();
    let mut hash_keys = Vec::new();
    let mut raw_records = Vec::new();
    let mut r = Reader { buf: body, pos: 0 };
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, 2) => partition_keys.push(r.string()?),
            (2, 2) => hash_keys.push(r.string()?),
            (3, 2) => raw_records.push(r.bytes()?),
            _ => r.skip(wire)?,
        }
    }
    let mut out = Vec::with_capacity(raw_records.len());
    for (i, rec) in raw_records.into_iter().enumerate() {
        let (mut pk, mut ehk, mut payload) = (None, None, None);
        let mut r = Reader { buf: rec, pos: 0 };
        while let Some((field, wire)) = r.key()? {
            match (field, wire) {
                (1, 0) => pk = Some(r.varint()?),
                (2, 0) => ehk = Some(r.varint()?),
                (3, 2) => payload = Some(r.bytes()?),
                _ => r.skip(wire)?,
            }
        }
        let index = |v: Option<u64>, table: &[String], what: &str| -> Result<Option<String>, KplError> {
            match v {
                None => Ok(None),
                Some(k) => table
                    .get(usize::try_from(k).unwrap_or(usize::MAX))
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| KplError::Malformed(format!("record {i}: {what} index {k} out of range"))),
            }
        };
        let partition_key = index(pk, &partition_keys, "partition key")?
            .ok_or_else(|| KplError::Malformed(format!("record {i}: no partition key index")))?;
        let payload = payload.ok_or_else(|| KplError::Malformed(format!("record {i}: no data")))?;
        let offset = payload.as_ptr() as usize - data.as_ptr() as usize;
        out.push(UserRecord {
            partition_key,
            explicit_hash_key: index(ehk, &hash_keys, "explicit hash key")?,
            data: data.slice(offset..offset + payload.len()),
            sub_sequence: i as u64,
        });
    }
    Ok(Some(out))
}

/// A protobuf wire-format cursor over a byte slice.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, KplError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(|| KplError::Malformed("truncated varint".into()))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(KplError::Malformed("varint longer than 10 bytes".into()))
    }

    /// The next field key, or `None` at the end.
    fn key(&mut self) -> Result<Option<(u64, u8)>, KplError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let k = self.varint()?;
        Ok(Some((k >> 3, (k & 7) as u8)))
    }

    fn bytes(&mut self) -> Result<&'a [u8], KplError> {
        let len = usize::try_from(self.varint()?).map_err(|_| KplError::Malformed("length too large".into()))?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| KplError::Malformed(format!("field of {len} bytes runs past the end")))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, KplError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| KplError::Malformed("a key is not UTF-8".into()))
    }

    fn skip(&mut self, wire: u8) -> Result<(), KplError> {
        let n = match wire {
            0 => return self.varint().map(|_| ()),
            1 => 8,
            2 => return self.bytes().map(|_| ()),
            5 => 4,
            w => return Err(KplError::Malformed(format!("unsupported wire type {w}"))),
        };
        if self.pos + n > self.buf.len() {
            return Err(KplError::Malformed("truncated fixed-width field".into()));
        }
        self.pos += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Produced by the PyPI package aws-kinesis-agg 1.2.3 (not by us):
    /// add_user_record('pk1', b'hello'); add_user_record('pk2', b'world', explicit_hash_key='123').
    const FIXTURE: &str = "f3899ac20a03706b310a03706b3212033132331a0908001a0568656c6c6f1a0b080110001a05776f726c64cb48b8211afb3c05f4c31852c9aff58e";

    fn fixture() -> Bytes {
        Bytes::from(
            (0..FIXTURE.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&FIXTURE[i..i + 2], 16).unwrap())
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn splits_an_aggregate_from_the_reference_library() {
        let recs = deaggregate(&fixture()).unwrap().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(
            (recs[0].partition_key.as_str(), &recs[0].data[..], recs[0].sub_sequence),
            ("pk1", &b"hello"[..], 0)
        );
        assert_eq!(recs[0].explicit_hash_key, None);
        assert_eq!(
            (recs[1].partition_key.as_str(), &recs[1].data[..], recs[1].sub_sequence),
            ("pk2", &b"world"[..], 1)
        );
        assert_eq!(recs[1].explicit_hash_key.as_deref(), Some("123"));
    }

    #[test]
    fn plain_records_pass_through() {
        assert_eq!(deaggregate(&Bytes::from_static(b"{\"a\":1}")).unwrap(), None);
        assert_eq!(deaggregate(&Bytes::from_static(&MAGIC)).unwrap(), None, "too short to be an aggregate");
    }

    #[test]
    fn corrupt_aggregates_are_errors_not_panics() {
        let good = fixture();
        let mut flipped = good.to_vec();
        flipped[10] ^= 0x40;
        assert_eq!(deaggregate(&Bytes::from(flipped)), Err(KplError::Checksum));
        let truncated = good.slice(..good.len() - 5);
        assert_eq!(deaggregate(&truncated), Err(KplError::Checksum));
        // a valid checksum over a broken body: truncated protobuf, bad index, bad wire type
        for body in [&[0x1a, 0x09, 0x08][..], &[0x1a, 0x04, 0x08, 0x05, 0x1a, 0x00], &[0x0b, 0x00]] {
            let mut rec = MAGIC.to_vec();
            rec.extend_from_slice(body);
            rec.extend_from_slice(&Md5::digest(body));
            assert!(matches!(deaggregate(&Bytes::from(rec)), Err(KplError::Malformed(_))), "{body:?}");
        }
    }
}
