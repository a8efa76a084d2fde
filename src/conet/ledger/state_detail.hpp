#pragma once
/// Helpers the state machine's source files share (not part of the API).

#include <string_view>

#include "conet/ledger/state.hpp"

namespace conet::ledger::detail {

/// Entries a snapshot may hold of each kind (decoders refuse more).
inline constexpr std::size_t max_snapshot_entries = 50'000'000;

inline bool add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
    return !__builtin_add_overflow(a, b, &out);
}

template <class P>
util::Result<P, TxError> payload_as(const Transaction& tx) {
    auto p = codec::decode<P>(tx.payload);
    if (!p) return util::unexpected(TxError::malformed_payload);
    return std::move(*p);
}

inline crypto::Hash256 key_for(std::string_view space, util::ByteView id) {
    return crypto::keccak256({util::as_bytes(space), id});
}

}  // namespace conet::ledger::detail
