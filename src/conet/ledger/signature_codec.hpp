#pragma once
/// The 65-byte recoverable signature (r | s | v) in every ledger encoding:
/// v is 0 or 1, so each signature has one encoding (a transaction, a vote,
/// a receipt or a record cannot be re-encoded under another id).

#include "conet/codec/codec.hpp"
#include "conet/crypto/keys.hpp"

namespace conet::ledger {

inline void write_signature(codec::Writer& w, const crypto::Signature& s) {
    w.fixed(s.to_bytes(0));
}

inline codec::Result<crypto::Signature> read_signature(codec::Reader& r) {
    auto raw = r.fixed<65>();
    if (!raw) return util::unexpected(raw.error());
    if ((*raw)[64] > 1) return util::unexpected(codec::CodecError::bad_value);
    auto parsed = crypto::Signature::from_bytes(*raw);
    if (!parsed) return util::unexpected(codec::CodecError::bad_value);
    return *parsed;
}

}  // namespace conet::ledger
