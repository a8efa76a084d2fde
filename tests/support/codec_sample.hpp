#pragma once
// A message type that uses every codec primitive, standing in for the
// ledger's types in the codec's property tests and fuzz target.

#include "conet/codec/codec.hpp"

namespace conet::test {

using namespace conet::codec;

/// A message using every codec primitive, standing in for the ledger's types.
struct Sample {
    static constexpr std::size_t max_blob_bytes = 64;
    static constexpr std::size_t max_name_bytes = 16;
    static constexpr std::size_t max_items = 8;

    std::uint8_t kind = 0;
    std::uint16_t port = 0;
    std::uint32_t epoch = 0;
    std::uint64_t amount = 0;
    bool active = false;
    ByteArray<4> tag{};
    Bytes blob;
    std::string name;
    std::vector<std::uint32_t> items;

    void encode(Writer& w) const {
        w.u8(kind);
        w.u16(port);
        w.u32(epoch);
        w.u64(amount);
        w.boolean(active);
        w.fixed(tag);
        w.bytes(blob);
        w.text(name);
        w.count(items.size());
        for (std::uint32_t i : items) w.u32(i);
    }

    static Result<Sample> decode(Reader& r) {
        Sample s;
        auto kind = r.u8();
        if (!kind) return util::unexpected(kind.error());
        auto port = r.u16();
        if (!port) return util::unexpected(port.error());
        auto epoch = r.u32();
        if (!epoch) return util::unexpected(epoch.error());
        auto amount = r.u64();
        if (!amount) return util::unexpected(amount.error());
        auto active = r.boolean();
        if (!active) return util::unexpected(active.error());
        auto tag = r.fixed<4>();
        if (!tag) return util::unexpected(tag.error());
        auto blob = r.bytes(max_blob_bytes);
        if (!blob) return util::unexpected(blob.error());
        auto name = r.text(max_name_bytes);
        if (!name) return util::unexpected(name.error());
        auto n = r.count(max_items);
        if (!n) return util::unexpected(n.error());
        for (std::size_t i = 0; i < *n; ++i) {
            auto item = r.u32();
            if (!item) return util::unexpected(item.error());
            s.items.push_back(*item);
        }
        s.kind = *kind;
        s.port = *port;
        s.epoch = *epoch;
        s.amount = *amount;
        s.active = *active;
        s.tag = *tag;
        s.blob = std::move(*blob);
        s.name = std::move(*name);
        return s;
    }

    bool operator==(const Sample&) const = default;
};

}  // namespace conet::test
