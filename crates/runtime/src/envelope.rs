//! The ABI v1 envelope: `u32 LE header length | JSON header | body bytes`,
//! used in both directions for events and host calls.

use serde_json::Value;

/// Encodes a header and a body into one envelope.
pub(crate) fn encode(header: &Value, body: &[u8]) -> Vec<u8> {
    let header = header.to_string();
    let mut out = Vec::with_capacity(4 + header.len() + body.len());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Splits an envelope into its parsed JSON header and its body.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Value, Vec<u8>), String> {
    let Some(len) = bytes.get(..4) else {
        return Err(format!("envelope too short ({} bytes)", bytes.len()));
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let Some(header) = bytes.get(4..4 + len) else {
        return Err(format!(
            "envelope header length {len} exceeds {} bytes",
            bytes.len()
        ));
    };
    let header: Value =
        serde_json::from_slice(header).map_err(|e| format!("envelope header is not JSON: {e}"))?;
    Ok((header, bytes[4 + len..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let env = encode(&json!({"v": 1, "kind": "fetch"}), b"\x00\xffbody");
        let (h, b) = decode(&env).expect("decodes");
        assert_eq!(h["kind"], "fetch");
        assert_eq!(b, b"\x00\xffbody");
    }

    #[test]
    fn rejects_truncated() {
        assert!(decode(&[1, 0]).is_err());
        assert!(decode(&[9, 0, 0, 0, b'{']).is_err());
        assert!(decode(&[1, 0, 0, 0, b'{']).is_err());
    }
}
